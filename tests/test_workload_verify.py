"""`parexec verify` on synthetic workloads: every workload at no, half and full
contention, every strategy (2 workers here; 1, 2 and 4 in `make conformance`):
every transaction succeeds and a parallel outcome equals serial's."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from parexec.cli import main
from parexec.strategies import STRATEGIES

SPECS = [f"{w}:txs=200,hot={h}" for w in ("transfers", "erc20", "chain", "amm", "nft", "mixed") for h in (0, 0.5, 1)]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_workload_at_every_contention_verifies(strategy):
    result = CliRunner().invoke(main, ["verify", *SPECS, "--strategy", strategy, "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"{len(SPECS)} passed, 0 failed"


def test_a_bad_spec_is_refused():
    result = CliRunner().invoke(main, ["verify", "erc20:txs=10,hot=2"])
    assert result.exit_code == 2 and "hot must be between 0 and 1" in result.output


def test_popularity_is_deterministic_and_zipf_skews_it():
    import random
    from collections import Counter

    from parexec.workloads.synthetic import Popularity

    def draws(s: float) -> list[int]:
        popular = Popularity(random.Random(4), 100, s)
        return [popular.pick() for _ in range(5000)]

    assert draws(1.2) == draws(1.2) and all(0 <= k < 100 for k in draws(1.2))
    uniform, skewed = Counter(draws(0)), Counter(draws(1.2))
    assert max(uniform.values()) < 100 and skewed[0] > 1000  # rank 1 takes a quarter at s = 1.2
    fresh = Popularity(random.Random(0), 0, 0)
    assert [fresh.pick() for _ in range(3)] == [0, 1, 2]


def test_zipf_and_accounts_make_recipients_collide():
    import parexec

    spread = parexec.analyze("erc20:txs=200,accounts=1000", repeat=1)
    skewed = parexec.analyze("erc20:txs=200,accounts=1000,zipf=1.5", repeat=1)
    assert skewed["hotspots"][0]["dependents"] > 5 * spread["hotspots"][0]["dependents"]
    assert skewed["parallelism_bound_gas"] < spread["parallelism_bound_gas"]


def test_consecutive_blocks_run_each_on_the_last_ones_post_state():
    """blocks=N: N blocks of txs each, block k+1 on block k's post-state (the hot
    sender's nonces go on), each a target of its own and verified."""
    from parexec.block.pipeline import execute_block
    from parexec.strategies import get_strategy
    from parexec.workloads import workload_blocks

    blocks = workload_blocks("transfers:txs=20,hot=1,blocks=3")
    assert [b.name for b, _ in blocks] == [f"transfers:txs=20,hot=1,blocks=3 block {k}/3" for k in (1, 2, 3)]
    assert [b.header.block_number for b, _ in blocks] == [blocks[0][0].header.block_number + k for k in range(3)]
    assert blocks[1][0].header.parent_hash == blocks[0][0].header.hash
    (first, pre), (second, post) = blocks[0], blocks[1]
    outcome = execute_block(first, pre, get_strategy("serial"))
    sender = next(iter({loc[1] for loc in outcome.state_diff if loc[0] == "nonce"}))
    assert post.account(sender).nonce == pre.account(sender).nonce + 20 == second.transactions[0].nonce
    result = CliRunner().invoke(main, ["verify", "erc20:txs=30,hot=0.5,blocks=3", "amm:txs=30,blocks=2",
                                       "--strategy", "occ", "--workers", "2", "--min-parallel-txs", "2"])
    assert result.exit_code == 0 and result.output.strip().endswith("5 passed, 0 failed"), result.output
