"""In-order commit: the one place where parallel results become the block's state.

Results are accepted strictly in block order. A speculative result is accepted
only if every value it read is still what the committed state holds (value-based
validation: EVM execution is a deterministic function of the values it reads);
otherwise the coordinator repairs it, where the result came with an operation
log and redo is on (evm.redo: only the operations that depend on what changed
are recomputed), or executes the transaction itself, exactly, on the committed
state. With PAREXEC_REDO_CHECK=1 every repair is also checked against a full
execution, and a difference is an error. Either way the block-level checks run where serial runs them,
so an invalid transaction gives the same rejection as serial execution.
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import fields

from parexec.block.validation import check_fits_in_block
from parexec.evm.redo import redo
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.model import NONCE, BlockRejected, RedoStats, TxResult
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


class RedoMismatch(AssertionError):
    """A repaired result differs from full execution (PAREXEC_REDO_CHECK)."""


def redo_check_on() -> bool:
    return os.environ.get("PAREXEC_REDO_CHECK", "") not in ("", "0")


class InOrderCommitter:
    def __init__(self, env, block, state, pool=None, publish_if=None, redo_stats: RedoStats | None = None):
        """``redo_stats``: repair stale results that carry an operation log, and count
        it there."""
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
        self.redo = redo_stats
        self.check_redo = redo_stats is not None and redo_check_on()
        # what became of each logged result that arrived ("valid", "repaired" or "declined"),
        # and its log's size
        self.log_outcomes: dict[int, tuple[str, int]] = {}

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
            logged = result.op_log is not None and self.redo is not None
            if logged:
                size = len(result.op_log) if isinstance(result.op_log, bytes) else 0
                self.redo.logged += 1
                self.redo.log_bytes += size
                self.log_outcomes[j] = ("valid", size)
            if self.is_valid(result):
                self.accepted += 1
                self._commit(result, True)
                return True
            self.rejected += 1
            if self.redo is not None:
                repaired = self._repair(j, result) if logged else None
                if logged:
                    self.log_outcomes[j] = ("declined" if repaired is None else "repaired", size)
                if repaired is not None:
                    self._commit(repaired, False)
                    return False
                start = time.monotonic()
                exact = self._execute_exact(j)
                self.redo.exact += 1
                self.redo.exact_seconds += time.monotonic() - start
                self._commit(exact, False)
                return False
        self._commit(self._execute_exact(j), False)
        return False

    def _repair(self, j: int, result: TxResult) -> TxResult | None:
        """``result``, stale, repaired by redo; None where it cannot be (counted)."""
        stats = self.redo
        start = time.monotonic()
        if isinstance(result.op_log, bytes):  # as a worker sent it
            result.op_log = pickle.loads(result.op_log)
        repaired = redo(self.env, result, self.read)
        end = time.monotonic()
        stats.redo_seconds += end - start
        if isinstance(repaired, str):
            stats.fallbacks[repaired] = stats.fallbacks.get(repaired, 0) + 1
            return None
        stats.repaired += 1
        if self.trace is not None:
            self.trace.span(run_trace.COORDINATOR, j, start, end, run_trace.REPAIRED, repaired)
        if self.check_redo:
            began = time.monotonic()
            exact = execute_transaction(self.env, self.state, self.block.transactions[j], j)
            stats.checked.append((end - start, time.monotonic() - began))
            differ = [f.name for f in fields(TxResult)
                      if f.name not in ("op_log", "list_changes") and getattr(exact, f.name) != getattr(repaired, f.name)]
            if differ:
                raise RedoMismatch(f"tx {j}: the repaired result differs from full execution in {', '.join(differ)}")
        return repaired

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
        if result.op_log is not None:
            result.op_log = None  # served its purpose
        if self.trace is not None:
            self.trace.commit(result.index, result, speculative)
        self.state.apply(result.writes, result.new_code)
        if self.pool is not None and (self.publish_if is None or self.publish_if(result.index)):
            self.pool.publish((WRITE, result.index, result.writes, result.new_code))
        self.results.append(result)
        self.gas_used += result.gas_used
        self.blob_gas_used += result.blob_gas_used
