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


def access_list(what, format: str = "eip7928"):
    """One block's exact access list, from a serial run: its EIP-7928 list
    (access.eip7928.BlockAccessList; ``.encode()`` gives its RLP, ``.hash()``
    its hash) or, with ``format="parexec"``, parexec's (a JSON-ready dict, each
    transaction's reads and writes). Either can be given back as ``hints``."""
    target = _one(what)
    if format == "eip7928":
        from parexec.access.eip7928_builder import build_access_list

        return build_access_list(target.block, target.pre_state)
    if format == "parexec":
        from parexec.access.access_list import AccessListRecorder

        recorder = AccessListRecorder()
        execute_block(target.block, target.pre_state, recorder, 1, with_state_root=False)
        return recorder.lists[-1]
    raise ValueError(f"unknown format {format!r}; choose eip7928 or parexec")


def _hints(hints):
    """What ``hints`` may be: a path (a list file or a folder of them, as ``--hints``
    takes), a list from ``access_list``, or any object with the hints' methods."""
    from parexec.access.access_list import AccessListHints, GivenLists
    from parexec.access.eip7928 import BlockAccessList

    if isinstance(hints, (str, Path)):
        return AccessListHints(Path(hints))
    if isinstance(hints, BlockAccessList):
        return GivenLists(eip7928=hints)
    if isinstance(hints, dict):
        return GivenLists(parexec=hints)
    return hints


def execute(what, strategy: str = "serial", workers: int = 1, hints=None) -> BlockOutcome:
    """Execute one block with ``strategy`` on ``workers`` (the calling process plus
    workers - 1 worker processes). The outcome (receipts, gas, logs bloom, state
    diff, the strategy's counters) is the same for every strategy and worker
    count. ``hints``: the block's access list for the strategies that take one
    (bal, the declared ones): a path, as ``--hints`` takes, or what
    ``access_list`` returns; without one they run the block with occ
    (``outcome.stats.hints`` says which). Raises parexec.model.BlockRejected for
    an invalid block (with bal, also one whose list a transaction disagrees with)."""
    target = _one(what)
    return execute_block(target.block, target.pre_state, get_strategy(strategy, hints=_hints(hints)), workers)


def analyze(what, granularity: str = "slot", repeat: int = 3) -> dict:
    """One block's dependency graph summed up, as ``parexec analyze --json`` writes
    it: dependencies, critical path, parallelism bound, hotspots."""
    from parexec.analysis.block_analysis import analyze as summarize
    from parexec.analysis.block_profile import profile_block

    summary, _ = summarize(profile_block(_one(what), repeat), granularity)
    return summary


def bench(what, strategies=("serial", "occ", "block-stm"), workers: int = 2, repeat: int = 3,
          hints=None) -> list[dict]:
    """Time strategies on one block against serial, in one run: a row per
    strategy with every run's seconds, the median and the speedup. ``hints`` as
    for ``execute``. Raises parexec.benchmarking.BenchMismatch if a strategy's
    outcome differs from serial's."""
    from parexec.benchmarking import bench_target

    return bench_target(_one(what), list(strategies), workers, repeat, hints=_hints(hints))


def explain(what, strategy: str = "occ", workers: int = 2, tx: int | None = None, hints=None):
    """One traced run of a block with ``strategy``, explained, as ``parexec explain``
    shows it: an analysis.schedule_explain.ExplainedRun, whose ``explanation``
    holds every execution (process, start, end, what became of it and why), when
    each transaction was committed, and for ``tx`` the chain that held it back
    (``held_back_by``) and what it read against what it should have seen.
    ``hints``: access lists for the strategy (as for ``execute``)."""
    from parexec.analysis.schedule_explain import explain_target

    return explain_target(_one(what), strategy, workers, tx, hints=_hints(hints))
