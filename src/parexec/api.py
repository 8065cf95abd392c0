"""The library in a line: ``parexec.execute``, ``parexec.analyze``,
``parexec.bench`` and ``parexec.explain`` take what the command line takes (a block dump's path or a
workload spec) or a Target, and return plain results.

    import parexec
    outcome = parexec.execute("erc20:txs=200", strategy="occ", workers=2)
    outcome.gas_used, outcome.receipts_root, outcome.stats.reexecutions

Parallel strategies start worker processes, forked from the caller, and keep
them for the next block.
"""

from __future__ import annotations

from pathlib import Path

from parexec.block.pipeline import execute_block
from parexec.fixtures.targets import Target, load_targets
from parexec.model import BlockOutcome
from parexec.strategies import get_strategy


def targets(what: "str | Path | Target") -> list[Target]:
    """Every block ``what`` names: a block dump (``.../blocks/N``), a folder of
    them, a workload spec (``erc20:txs=200,hot=0.5``) or a Target itself.
    Raises parexec.model.FixtureError or parexec.workloads.WorkloadError."""
    if isinstance(what, Target):
        return [what]
    return load_targets([str(what)])


def _one(what) -> Target:
    found = targets(what)
    if len(found) != 1:
        raise ValueError(f"{what}: {len(found)} blocks; pass one (parexec.targets lists them)")
    return found[0]


def execute(what, strategy: str = "serial", workers: int = 1, hints=None) -> BlockOutcome:
    """Execute one block with ``strategy`` on ``workers`` (the calling process plus
    workers - 1 worker processes). The outcome (receipts, gas, logs bloom, state
    diff, the strategy's counters) is the same for every strategy and worker
    count. Raises parexec.model.BlockRejected for an invalid block."""
    target = _one(what)
    return execute_block(target.block, target.pre_state, get_strategy(strategy, hints=hints), workers)


def analyze(what, granularity: str = "slot", repeat: int = 3) -> dict:
    """One block's dependency graph summed up, as ``parexec analyze --json`` writes
    it: dependencies, critical path, parallelism bound, hotspots."""
    from parexec.analysis.block_analysis import analyze as summarize
    from parexec.analysis.block_profile import profile_block

    summary, _ = summarize(profile_block(_one(what), repeat), granularity)
    return summary


def bench(what, strategies=("serial", "occ", "block-stm"), workers: int = 2, repeat: int = 3) -> list[dict]:
    """Time strategies on one block against serial, in one run: a row per
    strategy with every run's seconds, the median and the speedup. Raises
    parexec.benchmarking.BenchMismatch if a strategy's outcome differs from serial's."""
    from parexec.benchmarking import bench_target

    return bench_target(_one(what), list(strategies), workers, repeat)


def explain(what, strategy: str = "occ", workers: int = 2, tx: int | None = None, hints=None):
    """One traced run of a block with ``strategy``, explained, as ``parexec explain``
    shows it: an analysis.schedule_explain.ExplainedRun, whose ``explanation``
    holds every execution (process, start, end, what became of it and why), when
    each transaction was committed, and for ``tx`` the chain that held it back
    (``held_back_by``) and what it read against what it should have seen.
    ``hints``: access lists for the strategy (as for ``execute``)."""
    from parexec.analysis.schedule_explain import explain_target

    return explain_target(_one(what), strategy, workers, tx, hints=hints)
