"""Shared test setup: where the outside data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, seed, settings

REPO = Path(__file__).resolve().parent.parent
DATA = (REPO / ".." / "shared" / "data").resolve()
ETHEREUM_TESTS = DATA / "ethereum-tests" / "BlockchainTests"
MAINNET = DATA / "mainnet"
PRAGUE = DATA / "mainnet-prague"
EEST = DATA / "eest"


def require_data(path: Path) -> Path:
    """Fail (never skip) when the shared data a test needs is missing."""
    if not path.exists():
        pytest.fail(f"shared test data missing: {path} (expected ../shared/data beside the repo)")
    return path


# Property tests: ``PAREXEC_HYPOTHESIS_EXAMPLES=N`` runs N examples per property
# instead of each one's quick default; the examples are the same on every run,
# ``PAREXEC_HYPOTHESIS_SEED=S`` draws others, the same for the same S.
EXAMPLES = int(os.environ.get("PAREXEC_HYPOTHESIS_EXAMPLES", "0") or 0)
SEED = os.environ.get("PAREXEC_HYPOTHESIS_SEED") or None


def examples(quick: int) -> int:
    return EXAMPLES if EXAMPLES > 0 else quick


def prop_settings(quick: int):
    chosen = settings(
        max_examples=examples(quick),
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    return chosen if SEED is None else (lambda test: seed(int(SEED))(chosen(test)))
