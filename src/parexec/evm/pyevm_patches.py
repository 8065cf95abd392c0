"""Speed fixes to py-evm that do not change any result.

py-evm 0.12.1b1 reloads the KZG trusted setup (a few MB of text) on every call
of the point-evaluation precompile (0x0A): about 4 s a call. The setup is
constant, so it is loaded once per process and reused.
"""

from __future__ import annotations

from functools import lru_cache

import eth.precompiles.point_evaluation as point_evaluation

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    point_evaluation.load_trusted_setup = lru_cache(maxsize=2)(point_evaluation.load_trusted_setup)
    _applied = True
