"""Receipts, logs bloom and receipts root from the transactions' results."""

from __future__ import annotations

from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)

from parexec.block.validation import fork_lineage
from parexec.model import Block, Receipt, TxResult
from parexec.state.trie import leaf_reference, ordered_shape, rlp_list, rlp_string, rlp_uint


def build_receipts(
    block: Block, results: list[TxResult], state_roots: list[bytes] | None = None, leaves=None
) -> tuple[list[Receipt], bytes, int]:
    """Receipts in block order, the receipts root and the block's logs bloom.

    Before Byzantium a receipt carries the state root after its transaction; pass
    ``state_roots`` when they are known (a complete pre-state), otherwise the
    receipt gets an empty root and the receipts root cannot match the chain's.

    Only the cumulative gas is new here: bloom and logs were encoded where each
    transaction executed. Encoding the receipts and hashing them into the
    trie's leaves is most of the rest; ``leaves(fields)`` may do that elsewhere
    (the workers: parallel.worker_pool), given every receipt's fields (see
    receipt_leaves), and return the leaves' references in order.
    """
    pre_byzantium = "byzantium" not in fork_lineage(block.vm_class)
    fields = []
    receipts = []
    cumulative = 0
    bloom = 0
    for i, (tx, result) in enumerate(zip(block.transactions, results)):
        cumulative += result.gas_used
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
        tx_type = getattr(tx, "type_id", None) or 0
        fields.append((tx_type, status, cumulative, result.bloom, result.logs_rlp))
        bloom |= result.bloom
        receipts.append(
            Receipt(
                tx_type=tx_type,
                success=result.success,
                cumulative_gas_used=cumulative,
                logs=result.logs,
                bloom=result.bloom,
                state_root=root or None,
            )
        )
    references = leaves(fields) if leaves is not None else receipt_leaves(len(fields), 0, fields)
    return receipts, ordered_shape(len(fields)).root(references), bloom


def receipt_leaves(n: int, first: int, fields) -> list[bytes]:
    """The trie leaves' references of receipts ``first`` .. of a block's ``n``:
    ``fields``, one (type, status, cumulative gas, bloom, logs RLP) each."""
    paths = ordered_shape(n).paths
    return [leaf_reference(paths[first + k], encode_receipt(*receipt)) for k, receipt in enumerate(fields)]


def encode_receipt(tx_type: int, status: bytes, cumulative_gas: int, bloom: int, logs_rlp: bytes) -> bytes:
    """RLP [status, cumulative gas, bloom (256 bytes), logs], typed receipts prefixed
    with their type byte (EIP-2718): what py-evm's Receipt.encode() produces."""
    body = rlp_list((rlp_string(status), rlp_uint(cumulative_gas), rlp_string(bloom.to_bytes(256, "big")), logs_rlp))
    return bytes([tx_type]) + body if tx_type else body
