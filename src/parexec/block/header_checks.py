"""A block's header against its parent, its body and its execution, as a client checks it.

Each failed check raises BlockRejected with a message that names the rule. The
order follows a client's: the header against its parent before execution, the
body's roots and the execution's results after it.
"""

from __future__ import annotations

import rlp
from eth.db.trie import make_trie_root_and_nodes
from eth_hash.auto import keccak
from eth_utils import ValidationError

from parexec.block.validation import fork_lineage
from parexec.evm.osaka import expected_excess_blob_gas
from parexec.model import BlockOutcome, BlockRejected, show


def check_header(vm_class: type, header, parent_header) -> None:
    """Number, timestamp, extra data, gas limit bounds and base fee, proof-of-stake
    constants (py-evm's own rules), gas used within the limit and the blob gas excess."""
    try:
        vm_class.validate_header(header, parent_header)
    except ValidationError as exc:
        raise BlockRejected(f"invalid header: {exc}", rule=_header_rule(str(exc))) from None
    if header.gas_used > header.gas_limit:
        raise BlockRejected(
            f"header gas used {header.gas_used} exceeds its gas limit {header.gas_limit}",
            rule="INVALID_GAS_USED_ABOVE_LIMIT",
        )
    if "cancun" in fork_lineage(vm_class):
        want = expected_excess_blob_gas(vm_class, parent_header)
        if header.excess_blob_gas != want:
            raise BlockRejected(
                f"incorrect excess blob gas: header {header.excess_blob_gas}, expected {want} (EIP-4844)",
                rule="INCORRECT_EXCESS_BLOB_GAS",
            )


# py-evm's header checks, by the words of their messages.
_HEADER_RULES = (
    ("extra_data", "EXTRA_DATA_TOO_BIG"),
    ("base fee", "INVALID_BASEFEE_PER_GAS"),
    ("gas limit", "INVALID_GASLIMIT"),
    ("numbered consecutively", "INVALID_BLOCK_NUMBER"),
    ("timestamp", "INVALID_BLOCK_TIMESTAMP_OLDER_THAN_PARENT"),
    ("Difficulty", "IMPORT_IMPOSSIBLE_DIFFICULTY_OVER_PARIS"),
    ("Uncles hash", "IMPORT_IMPOSSIBLE_UNCLES_OVER_PARIS"),
)


def _header_rule(message: str) -> str | None:
    for words, rule in _HEADER_RULES:
        if words in message:
            return rule
    return None


def check_block_size(vm_class: type, rlp_size: int) -> None:
    """EIP-7934 (Osaka): the encoded block may not exceed the fork's limit."""
    limit = getattr(vm_class, "max_rlp_block_size", None)
    if limit is not None and rlp_size > limit:
        raise BlockRejected(
            f"block RLP is {rlp_size} bytes, above the limit {limit} (EIP-7934)", rule="RLP_BLOCK_LIMIT_EXCEEDED"
        )


def check_body_roots(block) -> None:
    """Transactions root, ommers hash and withdrawals root of a decoded py-evm block."""
    header = block.header
    tx_root, _ = make_trie_root_and_nodes(block.transactions)
    if tx_root != header.transaction_root:
        raise BlockRejected("transactions root does not match the header", rule="INVALID_TRANSACTIONS_ROOT")
    if keccak(rlp.encode(block.uncles)) != header.uncles_hash:
        raise BlockRejected("uncles hash does not match the header", rule="INVALID_UNCLES_HASH")
    withdrawals = getattr(block, "withdrawals", None)
    if withdrawals is not None and hasattr(header, "withdrawals_root"):
        w_root, _ = make_trie_root_and_nodes(withdrawals)
        if w_root != header.withdrawals_root:
            raise BlockRejected("withdrawals root does not match the header", rule="INVALID_WITHDRAWALS_ROOT")


def check_outcome(header, outcome: BlockOutcome) -> None:
    """What execution computed against what the header commits to."""
    expected = {
        "gas_used": header.gas_used,
        "logs_bloom": header.bloom,
        "receipts_root": header.receipt_root,
    }
    if hasattr(header, "blob_gas_used"):
        expected["blob_gas_used"] = header.blob_gas_used
    if hasattr(header, "requests_hash") and outcome.requests_hash is not None:
        expected["requests_hash"] = header.requests_hash
    for field, want in expected.items():
        got = getattr(outcome, field)
        if got != want:
            raise BlockRejected(
                f"{field} mismatch: header {show(want)}, computed {show(got)}", rule=_OUTCOME_RULES[field]
            )
    if outcome.state_root is not None:
        check_state_root(header.state_root, outcome.state_root)


def check_state_root(want: bytes, got: bytes) -> None:
    if got != want:
        raise BlockRejected(f"state root mismatch: header {show(want)}, computed {show(got)}",
                            rule="INVALID_STATE_ROOT")


_OUTCOME_RULES = {
    "gas_used": "INVALID_GAS_USED",
    "logs_bloom": "INVALID_LOG_BLOOM",
    "receipts_root": "INVALID_RECEIPTS_ROOT",
    "blob_gas_used": "INCORRECT_BLOB_GAS_USED",
    "requests_hash": "INVALID_REQUESTS",
}
