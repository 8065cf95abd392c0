"""The reference: transactions one after another, in block order."""

from __future__ import annotations

import time

from parexec.block.validation import check_fits_in_block
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.model import BlockRejected, RunStats
from parexec.parallel import run_trace


class SerialStrategy:
    """The reference: every transaction in block order, one after another."""

    name = "serial"
    engine = "serial"

    def __init__(self, time_transactions: bool = False, **_options):
        """``time_transactions``: report each transaction's wall time in the stats
        (``tx_seconds``) and the whole loop's (``run_seconds``), for analysis.
        Accepts the parallel strategies' options."""
        self.time_transactions = time_transactions

    def run_transactions(self, env, block, state, workers=1):
        began_run = time.perf_counter()
        results = []
        seconds = []
        gas_used = blob_gas_used = 0
        trace = run_trace.active()
        if trace is not None:
            trace.begin(run_trace.EXECUTION, state)
        for i, tx in enumerate(block.transactions):
            check_fits_in_block(block, i, gas_used, blob_gas_used)
            started = time.perf_counter()
            began = time.monotonic() if trace is not None else 0.0
            try:
                result = execute_transaction(env, state, tx, i)
            except InvalidTransaction as exc:
                raise BlockRejected(f"invalid transaction: {exc}", i, exc.rule) from None
            if self.time_transactions:
                seconds.append(time.perf_counter() - started)
            if trace is not None:
                trace.span(run_trace.COORDINATOR, i, began, time.monotonic(), run_trace.EXACT, result)
                trace.commit(i, result, False)
            state.apply(result.writes, result.new_code)
            gas_used += result.gas_used
            blob_gas_used += result.blob_gas_used
            results.append(result)
        timed = self.time_transactions
        return results, RunStats(txs=len(results), executions=len(results), coordinator_executions=len(results),
                                 tx_seconds=seconds if timed else None,
                                 run_seconds=time.perf_counter() - began_run if timed else None)
