"""Shared test setup: where the outside data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

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
