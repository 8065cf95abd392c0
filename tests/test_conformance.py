"""All shared outside data through the serial strategy: ethereum/tests, the
execution-spec-tests (Prague, Osaka, BPO1) and mainnet blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EEST, ETHEREUM_TESTS, MAINNET, PRAGUE, require_data
from parexec.fixtures.blockchain_tests import cases_in_file
from parexec.fixtures.discover import mainnet_case, prague_case
from parexec.strategies import get_strategy
from parexec.verifier import run_cases

BT_FILES = sorted(ETHEREUM_TESTS.rglob("*.json")) if ETHEREUM_TESTS.exists() else []
EEST_FILES = sorted(EEST.rglob("*.json")) if EEST.exists() else []
MAINNET_BLOCKS = (
    sorted((MAINNET / "blocks").iterdir(), key=lambda p: int(p.name)) if MAINNET.exists() else []
)


def test_shared_data_is_present():
    require_data(ETHEREUM_TESTS)
    require_data(MAINNET / "blocks")
    require_data(PRAGUE / "22546209")
    assert len(BT_FILES) == 694, f"expected 694 BlockchainTests files, found {len(BT_FILES)}"
    assert len(MAINNET_BLOCKS) == 45
    require_data(EEST)
    assert len(EEST_FILES) == 102, f"expected 102 execution-spec-tests files, found {len(EEST_FILES)}"


def _assert_all_pass(cases):
    tally = run_cases(cases, get_strategy("serial"))
    bad = [f"{r.name}: {r.status} {r.detail}" for r in tally.results if r.status != "passed"]
    assert not bad, "\n".join(bad)
    return tally


@pytest.mark.conformance
@pytest.mark.parametrize("path", BT_FILES, ids=lambda p: str(p.relative_to(ETHEREUM_TESTS)))
def test_ethereum_tests_file(path: Path):
    cases = cases_in_file(path)
    assert cases
    _assert_all_pass(cases)


@pytest.mark.conformance
@pytest.mark.parametrize("path", EEST_FILES, ids=lambda p: str(p.relative_to(EEST)))
def test_execution_spec_tests_file(path: Path):
    """Every test passes and none is skipped: every fork here is live on mainnet."""
    cases = cases_in_file(path)
    assert cases
    _assert_all_pass(cases)


@pytest.mark.conformance
@pytest.mark.parametrize("block_dir", MAINNET_BLOCKS, ids=lambda p: p.name)
def test_mainnet_block(block_dir: Path):
    tally = _assert_all_pass([mainnet_case(block_dir)])
    assert tally.results[0].txs > 0


@pytest.mark.conformance
def test_prague_block_executes():
    block_dir = require_data(PRAGUE / "22546209")
    tally = _assert_all_pass([prague_case(block_dir)])
    assert tally.results[0].txs == 180
