"""How a strategy that takes access lists ran each block: with the block's list,
predicted by pre-execution, handed to occ for want of a list, or to dag for a
wrong one (``RunStats.hints``). A run over many blocks (``verify``, ``chain
import``, ``chain bench``, ``replay``) says so in one line, so that lists matched
to no block, or a folder of the wrong kind, never pass unnoticed as a run that
merely passed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from parexec.counted import counted

# RunStats.hints (up to its first colon) -> what it says of a block, in the order lines give them
HOW = {
    "eip7928 list": "with an EIP-7928 list",
    "access list": "with an access list",
    "pre-execution": "predicted by pre-execution",
    "none": "without a list, run with occ",
    "invalid list, dag": "with a wrong list, run with dag",
    None: "run serially (too few transactions, or one worker)",
}


def how_it_ran(hints: str | None) -> str:
    """What ``RunStats.hints`` says of a block, as a line gives it."""
    key = None if hints is None else hints.split(":")[0]
    return HOW.get(key, key)


def ran_line(strategy: str, counts: Mapping[str, int]) -> str:
    """One line: "bal ran 12 blocks: 10 with an EIP-7928 list, 2 without a list, run
    with occ"; ``counts``: blocks by ``how_it_ran``."""
    order = list(HOW.values())
    parts = [f"{counts[how]:,} {how}" for how in sorted(counts, key=lambda h: order.index(h) if h in order else 99)]
    return f"{strategy} ran {counted(sum(counts.values()), 'block')}" + (": " + ", ".join(parts) if parts else "")


class HintTally:
    """``strategy`` (one that takes hints), counting how it ran each block; every
    other attribute is the strategy's own."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.counts: Counter = Counter()  # blocks by how_it_ran

    def __getattr__(self, name):
        return getattr(self.strategy, name)

    def run_transactions(self, env, block, state, workers):
        results, stats = self.strategy.run_transactions(env, block, state, workers)
        self.counts[how_it_ran(stats.hints)] += 1
        return results, stats

    def summary(self) -> str:
        return ran_line(self.strategy.name, self.counts)


def tallied(strategy):
    """``strategy`` in a HintTally if it takes access lists, else as it is."""
    from parexec.strategies import TAKES_HINTS

    return HintTally(strategy) if strategy.name in TAKES_HINTS else strategy
