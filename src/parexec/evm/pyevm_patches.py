"""Speed fixes to py-evm and its libraries that do not change any result.

* py-evm 0.12.1b1 reloads the KZG trusted setup (a few MB of text) on every call
  of the point-evaluation precompile (0x0A): about 4 s a call. The setup is
  constant, so it is loaded once per process and reused.
* eth-hash picks pycryptodome for keccak256 when it is installed (py-evm pulls
  it in): about 5 us a hash, mostly Python object set-up. safe-pysha3 (pinned)
  is a C keccak at about 1.5 us; blooms, addresses and trie roots hash a lot.
"""

from __future__ import annotations

from functools import lru_cache

_applied = False


def use_fast_keccak() -> None:
    """Called when the parexec package is imported, before anything hashes."""
    from eth_hash.auto import keccak
    from eth_hash.backends.pysha3 import backend

    keccak.hasher = backend.keccak256
    keccak.preimage = backend.preimage


def apply() -> None:
    global _applied
    if _applied:
        return
    import eth.precompiles.point_evaluation as point_evaluation

    point_evaluation.load_trusted_setup = lru_cache(maxsize=2)(point_evaluation.load_trusted_setup)
    _applied = True
