"""Receipts, logs bloom and receipts root from the transactions' results."""

from __future__ import annotations

from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.db.trie import make_trie_root_and_nodes
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt as RlpReceipt

from parexec.block.validation import fork_lineage
from parexec.model import Block, Receipt, TxResult


def build_receipts(
    block: Block, results: list[TxResult], state_roots: list[bytes] | None = None
) -> tuple[list[Receipt], bytes, int]:
    """Receipts in block order, the receipts root and the block's logs bloom.

    Before Byzantium a receipt carries the state root after its transaction; pass
    ``state_roots`` when they are known (a complete pre-state), otherwise the
    receipt gets an empty root and the receipts root cannot match the chain's.
    """
    pre_byzantium = "byzantium" not in fork_lineage(block.vm_class)
    evm_receipts = []
    receipts = []
    cumulative = 0
    bloom = 0
    for i, (tx, result) in enumerate(zip(block.transactions, results)):
        cumulative += result.gas_used
        logs = tuple((log.address, log.topics, log.data) for log in result.logs)
        if pre_byzantium:
            root = state_roots[i] if state_roots else b""
            status = root
        else:
            root = None
            status = (
                EIP658_TRANSACTION_STATUS_CODE_SUCCESS
                if result.success
                else EIP658_TRANSACTION_STATUS_CODE_FAILURE
            )
        receipt = _make_receipt(tx, status, cumulative, logs, result.bloom)
        evm_receipts.append(receipt)
        bloom |= receipt.bloom
        receipts.append(
            Receipt(
                tx_type=getattr(tx, "type_id", None) or 0,
                success=result.success,
                cumulative_gas_used=cumulative,
                logs=result.logs,
                bloom=receipt.bloom,
                state_root=root or None,
            )
        )
    root_hash, _ = make_trie_root_and_nodes(tuple(evm_receipts))
    return receipts, root_hash, bloom



def _make_receipt(tx, status, cumulative_gas: int, log_entries, bloom: int):
    """tx.make_receipt, but with the bloom the executing worker already computed
    (py-evm would recompute it here, serially)."""
    inner = RlpReceipt(
        state_root=status,
        gas_used=cumulative_gas,
        logs=[Log(address, topics, data) for address, topics, data in log_entries],
        bloom=bloom,
    )
    type_id = getattr(tx, "type_id", None)
    if not type_id:
        return inner
    return tx.receipt_builder.typed_receipt_class(type_id, inner)
