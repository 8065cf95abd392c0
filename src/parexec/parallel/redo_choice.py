"""Which speculative executions log their operations, so that a stale result can
be repaired (evm.op_log, evm.redo) instead of executed again.

Logging costs a worker 10-40% of an execution, so it should go where results
go stale. Where they do, transactions share a contract: ``auto`` logs the
transactions that call a contract an earlier transaction of the block calls.
"""

from __future__ import annotations

REDO_MODES = ("auto", "on", "off")


def check_mode(redo: str) -> str:
    if redo not in REDO_MODES:
        raise ValueError(f"redo must be one of {', '.join(REDO_MODES)}, not {redo!r}")
    return redo


def logged(block, redo: str) -> frozenset | None:
    """The transactions whose speculative executions log operations (None: redo off)."""
    txs = block.transactions
    if redo == "off":
        return None
    if redo == "on":
        return frozenset(range(len(txs)))
    seen, chosen = set(), set()
    for j, tx in enumerate(txs):
        to = tx.to
        if to in seen:
            chosen.add(j)
        elif to:
            seen.add(to)
    return frozenset(chosen)
