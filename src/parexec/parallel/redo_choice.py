"""Which speculative executions log their operations, so that a stale result can
be repaired (evm.op_log, evm.redo) instead of executed again.

Logging costs a worker 10-40% of an execution, so it should go where results
go stale and can be repaired. Where they go stale, transactions share a
contract: ``auto`` logs the transactions that call a contract an earlier
transaction of the block calls, except those to a contract whose logs, in the
blocks a strategy ran before, cost more than its repairs saved (RedoMemory):
its results seldom went stale, or went stale in ways a log cannot repair (an
ETH balance they read, a jump that changed).
"""

from __future__ import annotations

from dataclasses import dataclass

REDO_MODES = ("auto", "on", "off")


def check_mode(redo: str) -> str:
    if redo not in REDO_MODES:
        raise ValueError(f"redo must be one of {', '.join(REDO_MODES)}, not {redo!r}")
    return redo


@dataclass
class CalleeRecord:
    spent: int = 0  # what its logs cost, in bytes of log (LOG_FIXED each, plus their size)
    saved: int = 0  # what its repairs saved, likewise


# What logging costs and a repair saves, in bytes of log (measured serially on mainnet
# blocks: a logging execution is slower by 0.12-0.2 us per byte of its log, plus 0.1-0.5 ms
# for watching its opcodes at all; a repair saves a whole execution, 2.4-4.5 times what its
# log cost)
LOG_FIXED = 2048  # an execution's log costs this much more than its size
REPAIR_SAVES = 3  # a repaired result saves this many times its log's cost
DECLINE_COSTS = 2  # a stale result that could not be repaired cost its log and a try to repair it
ALLOWANCE = 65536  # what a contract's logs may cost beyond what its repairs saved


class RedoMemory:
    """What a strategy learned, block after block, about logging each contract's
    transactions (a node's importer sees the same contracts block after block): a
    contract stays logged while its repairs pay for its logs, give or take ALLOWANCE,
    so a contract of heavy calls that seldom go stale is dropped after a log or two,
    one of cheap token transfers after dozens."""

    def __init__(self):
        self.callees: dict[bytes, CalleeRecord] = {}

    def avoid(self, to: bytes) -> bool:
        record = self.callees.get(to)
        return record is not None and record.spent - record.saved > ALLOWANCE

    def learn(self, block, outcomes: dict[int, tuple[str, int]]) -> None:
        """``outcomes``: per logged transaction that arrived, what became of it
        ("valid", "repaired" or "declined", parallel.commit) and its log's size."""
        txs = block.transactions
        for j, (outcome, size) in outcomes.items():
            record = self.callees.setdefault(txs[j].to, CalleeRecord())
            cost = LOG_FIXED + size
            record.spent += DECLINE_COSTS * cost if outcome == "declined" else cost
            if outcome == "repaired":
                record.saved += REPAIR_SAVES * cost


def logged(block, redo: str, memory: RedoMemory | None = None) -> frozenset | None:
    """The transactions whose speculative executions log operations (None: redo off);
    ``memory`` (auto): what the strategy learned in earlier blocks."""
    txs = block.transactions
    if redo == "off":
        return None
    if redo == "on":
        return frozenset(range(len(txs)))
    seen, chosen = set(), set()
    for j, tx in enumerate(txs):
        to = tx.to
        if to in seen:
            if memory is None or not memory.avoid(to):
                chosen.add(j)
        elif to:
            seen.add(to)
    return frozenset(chosen)
