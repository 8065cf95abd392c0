"""`parexec verify` on synthetic workloads: every workload at no, half and full
contention, every strategy (2 workers here; 1, 2 and 4 in `make conformance`):
every transaction succeeds and a parallel outcome equals serial's."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from parexec.cli import main
from parexec.strategies import STRATEGIES

SPECS = [f"{w}:txs=200,hot={h}" for w in ("transfers", "erc20", "chain", "amm", "nft") for h in (0, 0.5, 1)]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_workload_at_every_contention_verifies(strategy):
    result = CliRunner().invoke(main, ["verify", *SPECS, "--strategy", strategy, "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"{len(SPECS)} passed, 0 failed"


def test_a_bad_spec_is_refused():
    result = CliRunner().invoke(main, ["verify", "erc20:txs=10,hot=2"])
    assert result.exit_code == 2 and "hot must be between 0 and 1" in result.output
