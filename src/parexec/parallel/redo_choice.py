"""Which speculative executions log their operations, so that a stale result can
be repaired (evm.op_log, evm.redo) instead of executed again.

Logging costs a worker 10-40% of an execution, so it should go where results
go stale and can be repaired. Where they go stale, transactions share a
contract: ``auto`` logs the transactions that call a contract an earlier
transaction of the block calls, except those to a contract whose logged
results, in the blocks a strategy ran before, went stale without ever being
repaired (an ETH balance they read, a jump that changed) or were repaired too
seldom to pay for their logs (RedoMemory).
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
    logged: int = 0  # results that arrived with a log
    stale: int = 0  # of those, stale at their turn
    repaired: int = 0  # of those, repaired


UNREPAIRED = 3  # stale results of a contract, none repaired: logging it only costs
# A repair saves about a whole execution on the coordinator, a log costs its worker 10-40%
# of one: after WORTH_JUDGING logged results of a contract, it stays logged only if at
# least one in REPAIRS_EVERY was repaired
WORTH_JUDGING = 16
REPAIRS_EVERY = 4


class RedoMemory:
    """What a strategy learned, block after block, about logging each contract's
    transactions (a node's importer sees the same contracts block after block)."""

    def __init__(self):
        self.callees: dict[bytes, CalleeRecord] = {}

    def avoid(self, to: bytes) -> bool:
        record = self.callees.get(to)
        if record is None:
            return False
        return (record.stale >= UNREPAIRED and not record.repaired) or (
            record.logged >= WORTH_JUDGING and record.repaired * REPAIRS_EVERY < record.logged)

    def learn(self, block, outcomes: dict[int, str]) -> None:
        """``outcomes``: per logged transaction that arrived, "valid", "repaired" or
        "declined" (parallel.commit)."""
        txs = block.transactions
        for j, outcome in outcomes.items():
            record = self.callees.setdefault(txs[j].to, CalleeRecord())
            record.logged += 1
            if outcome != "valid":
                record.stale += 1
                record.repaired += outcome == "repaired"


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
