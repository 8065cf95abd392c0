"""A representative slice of the shared data through each parallel strategy.

The full strategy x worker-count matrix over all shared data is `make conformance`.
Here: the largest-block ethereum/tests files and a spread of mainnet blocks
(Frontier to Cancun, small and large, conflict-heavy and independent), plus the
Prague block, each at 2 workers; small test blocks are pushed through the
parallel path too (min_parallel_txs=2). Mainnet and Prague outcomes are also
compared field by field with serial's (see fixtures.discover.DumpCase).
"""

from __future__ import annotations

import pytest

from conftest import ETHEREUM_TESTS, MAINNET, PRAGUE, require_data
from parexec.fixtures.blockchain_tests import cases_in_file
from parexec.fixtures.discover import mainnet_case, prague_case
from parexec.strategies import PARALLEL, get_strategy
from parexec.verifier import run_cases

BT_SLICE = [
    "ValidBlocks/bcEIP1559/intrinsic.json",
    "ValidBlocks/bcEIP1559/intrinsicTip.json",
    "ValidBlocks/bcValidBlockTest/eip2930.json",
    "ValidBlocks/bcStateTests",
    "GeneralStateTests/stTransactionTest",
    "GeneralStateTests/Cancun",
]
MAINNET_SLICE = [930196, 2674998, 4370000, 7279999, 12300570, 14396881, 15538827, 19426587, 19932703]


def _run(cases, strategy, workers=2):
    tally = run_cases(cases, get_strategy(strategy, min_parallel_txs=2, predict=True), workers)
    bad = [f"{r.name}: {r.status} {r.detail}" for r in tally.results if r.status != "passed"]
    assert not bad, "\n".join(bad)
    return tally


def _bt_cases(rel: str):
    path = require_data(ETHEREUM_TESTS / rel)
    files = [path] if path.is_file() else sorted(path.rglob("*.json"))
    return [case for f in files for case in cases_in_file(f)]


@pytest.mark.conformance
@pytest.mark.parametrize("strategy", PARALLEL)
@pytest.mark.parametrize("rel", BT_SLICE)
def test_ethereum_tests_slice(strategy, rel):
    assert _run(_bt_cases(rel), strategy).results


@pytest.mark.conformance
@pytest.mark.parametrize("strategy", PARALLEL)
@pytest.mark.parametrize("number", MAINNET_SLICE)
def test_mainnet_slice(strategy, number):
    block_dir = require_data(MAINNET / "blocks" / str(number))
    _run([mainnet_case(block_dir)], strategy)


@pytest.mark.conformance
@pytest.mark.parametrize("strategy", PARALLEL)
def test_prague_block(strategy):
    _run([prague_case(require_data(PRAGUE / "22546209"))], strategy, workers=3)
