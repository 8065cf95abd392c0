"""The reference: transactions one after another, in block order."""

from __future__ import annotations

from parexec.block.validation import check_fits_in_block
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.model import BlockRejected


class SerialStrategy:
    name = "serial"

    def __init__(self, **_options):
        pass  # no options; accepts the parallel strategies' ones

    def run_transactions(self, env, block, state, workers=1):
        results = []
        gas_used = blob_gas_used = 0
        for i, tx in enumerate(block.transactions):
            check_fits_in_block(block, i, gas_used, blob_gas_used)
            try:
                result = execute_transaction(env, state, tx, i)
            except InvalidTransaction as exc:
                raise BlockRejected(f"invalid transaction: {exc}", i) from None
            state.apply(result.writes, result.new_code)
            gas_used += result.gas_used
            blob_gas_used += result.blob_gas_used
            results.append(result)
        return results, {"txs": len(results), "executions": len(results)}
