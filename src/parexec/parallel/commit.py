"""In-order commit: the one place where parallel results become the block's state.

Results are accepted strictly in block order. A speculative result is accepted
only if every value it read is still what the committed state holds (value-based
validation: EVM execution is a deterministic function of the values it reads);
otherwise the coordinator executes the transaction itself, exactly, on the
committed state. Either way the block-level checks run where serial runs them,
so an invalid transaction gives the same rejection as serial execution.
"""

from __future__ import annotations

import time

from parexec.block.validation import check_fits_in_block
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.model import NONCE, BlockRejected, TxResult
from parexec.parallel import run_trace
from parexec.parallel.protocol import WRITE
from parexec.state.view import read_value


def may_still_hold(reads, value_of) -> bool:
    """Whether ``reads`` can still be valid when their transaction's turn comes:
    each value is as read, except that a nonce may still be below the one read
    (speculation predicts a sender's nonce, and its earlier transactions may not
    be in yet). For early checks only; the commit validates exactly."""
    for loc, seen in reads.items():
        now = value_of(loc)
        if now != seen and not (loc[0] == NONCE and now < seen):
            return False
    return True


class InOrderCommitter:
    def __init__(self, env, block, state, pool=None, publish_if=None):
        self.env = env
        self.block = block
        self.state = state  # OverlayState of committed transactions
        self.pool = pool  # if given, commits are published to its workers...
        self.publish_if = publish_if  # ...those of the txs for which this says so
        self.results: list[TxResult] = []
        self.gas_used = 0
        self.blob_gas_used = 0
        self.exact_executions = 0
        self.accepted = 0
        self.rejected = 0  # speculative results that failed validation
        self.trace = run_trace.active()

    @property
    def next(self) -> int:
        return len(self.results)

    @property
    def done(self) -> bool:
        return self.next == len(self.block.transactions)

    def read(self, loc):
        """What a read of ``loc`` sees on the committed state."""
        return read_value(self.state, loc)

    def is_valid(self, result: TxResult) -> bool:
        state = self.state
        for loc, seen in result.reads.items():
            if read_value(state, loc) != seen:
                return False
        return True

    def offer(self, result: TxResult | None) -> bool:
        """Commit the next transaction: ``result`` if still valid, else by exact execution.
        Returns whether the speculative result was accepted."""
        j = self.next
        check_fits_in_block(self.block, j, self.gas_used, self.blob_gas_used)
        if result is not None:
            if self.is_valid(result):
                self.accepted += 1
                self._commit(result, True)
                return True
            self.rejected += 1
        self._commit(self._execute_exact(j), False)
        return False

    def _execute_exact(self, j: int) -> TxResult:
        self.exact_executions += 1
        start = time.monotonic()
        try:
            result = execute_transaction(self.env, self.state, self.block.transactions[j], j)
        except InvalidTransaction as exc:
            raise BlockRejected(f"invalid transaction: {exc}", j, exc.rule) from None
        if self.trace is not None:
            self.trace.span(run_trace.COORDINATOR, j, start, time.monotonic(), run_trace.EXACT, result)
        return result

    def _commit(self, result: TxResult, speculative: bool) -> None:
        if self.trace is not None:
            self.trace.commit(result.index, result, speculative)
        self.state.apply(result.writes, result.new_code)
        if self.pool is not None and (self.publish_if is None or self.publish_if(result.index)):
            self.pool.publish((WRITE, result.index, result.writes, result.new_code))
        self.results.append(result)
        self.gas_used += result.gas_used
        self.blob_gas_used += result.blob_gas_used
