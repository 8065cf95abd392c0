"""How a strategy that takes access lists ran each block: with the block's list,
predicted by pre-execution, handed to occ for want of a list, or to dag for a
wrong one (``RunStats.hints``). A run over many blocks (``verify``, ``chain
import``) says so in one line, so that lists matched to no block, or a folder
of the wrong kind, never pass unnoticed as a run that merely passed."""

from __future__ import annotations

from collections import Counter

from parexec.counted import counted

# RunStats.hints (up to its first colon) -> what it says of a block
HOW = {
    "eip7928 list": "with an EIP-7928 list",
    "access list": "with an access list",
    "pre-execution": "predicted by pre-execution",
    "none": "without a list, run with occ",
    "invalid list, dag": "with a wrong list, run with dag",
    None: "run serially (too few transactions, or one worker)",
}


class HintTally:
    """``strategy`` (one that takes hints), counting how it ran each block; every
    other attribute is the strategy's own."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.counts: Counter = Counter()

    def __getattr__(self, name):
        return getattr(self.strategy, name)

    def run_transactions(self, env, block, state, workers):
        results, stats = self.strategy.run_transactions(env, block, state, workers)
        self.counts[None if stats.hints is None else stats.hints.split(":")[0]] += 1
        return results, stats

    def summary(self) -> str:
        """One line: "bal ran 12 blocks: 10 with an EIP-7928 list, 2 without a list, run with occ"."""
        total = sum(self.counts.values())
        order = list(HOW)
        parts = [f"{self.counts[how]:,} {HOW.get(how, how)}"
                 for how in sorted(self.counts, key=lambda how: order.index(how) if how in order else len(order))]
        return (f"{self.strategy.name} ran {counted(total, 'block')}"
                + (": " + ", ".join(parts) if parts else ""))
