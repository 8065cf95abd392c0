"""Transaction validity that does not depend on the state, and block-level limits.

py-evm's own checks are spread over ``tx.validate()``, the State and the
executor, and some are missing (the intrinsic-gas check of typed transactions,
EIP-3607, EIP-2681, max-blob counts). The rules here follow the execution specs;
a violation rejects the block with a reason that names the rule.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from eth.vm.forks.cancun.constants import GAS_PER_BLOB
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth_utils import ValidationError

from parexec.evm.osaka import max_blob_gas_per_block
from parexec.evm.recording_state import CHAIN_ID
from parexec.model import Block, BlockRejected

MAX_INITCODE_SIZE = 2 * 24576  # EIP-3860 (Shanghai)
UINT256 = 2**256


def fork_lineage(vm_class: type) -> frozenset[str]:
    """Fork names of ``vm_class`` and every VM it inherits from ("cancun" in it means Cancun+)."""
    return frozenset(c.fork for c in vm_class.__mro__ if isinstance(getattr(c, "fork", None), str))


def max_blob_gas(block: Block) -> int:
    """The block's blob gas limit, from its fork's blob schedule (0 before Cancun)."""
    return max_blob_gas_per_block(block.vm_class)


def blob_gas_of(tx) -> int:
    return get_total_blob_gas(tx) if getattr(tx, "type_id", None) == 3 else 0


# One transaction with more blobs than a block may hold: the tests name it either way.
TOO_MANY_BLOBS = "TYPE_3_TX_BLOB_COUNT_EXCEEDED|TYPE_3_TX_MAX_BLOB_GAS_ALLOWANCE_EXCEEDED"


class Violation(NamedTuple):
    """A broken validity rule: ``rule`` is the name the execution-spec-tests give it
    (``TransactionException.<rule>``), ``message`` says what was wrong."""

    rule: str | None
    message: str


def stateless_violation(tx, vm_class: type, forks: frozenset[str], blob_gas_limit: int) -> Violation | None:
    try:
        tx.validate()
    except (ValidationError, ValueError) as exc:
        return Violation(pyevm_rule(str(exc)), str(exc))
    fork_rule = getattr(vm_class, "tx_violation", None)  # Osaka's gas cap and blob count
    if fork_rule is not None:
        broken = fork_rule(tx)
        if broken:
            return Violation(*broken)
    tx_type = getattr(tx, "type_id", None) or 0
    if tx.nonce >= 2**64 - 1:
        return Violation("NONCE_IS_MAX", "nonce is at its maximum (EIP-2681)")
    if tx.gas < tx.intrinsic_gas:
        return Violation("INTRINSIC_GAS_TOO_LOW", f"intrinsic gas too low: gas {tx.gas} < intrinsic {tx.intrinsic_gas}")
    if "prague" in forks:
        floor = _data_floor_gas(tx.data)
        if tx.gas < floor:
            return Violation(
                "INTRINSIC_GAS_BELOW_FLOOR_GAS_COST", f"gas {tx.gas} below the calldata floor {floor} (EIP-7623)"
            )
    if tx_type and tx.chain_id != CHAIN_ID:
        return Violation("INVALID_CHAINID", f"chain id {tx.chain_id} is not {CHAIN_ID}")
    fee_cap = tx.max_fee_per_gas if tx_type >= 2 else tx.gas_price
    if tx_type >= 2 and tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        return Violation("PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS", "max priority fee per gas exceeds max fee per gas")
    if tx.gas * fee_cap >= UINT256:
        return Violation("GASLIMIT_PRICE_PRODUCT_OVERFLOW", "gas limit * fee cap overflows 256 bits")
    if "shanghai" in forks and tx.to == b"" and len(tx.data) > MAX_INITCODE_SIZE:
        return Violation(
            "INITCODE_SIZE_EXCEEDED", f"initcode size {len(tx.data)} exceeds {MAX_INITCODE_SIZE} (EIP-3860)"
        )
    if tx_type == 3:
        if tx.to == b"":
            return Violation("TYPE_3_TX_CONTRACT_CREATION", "a blob transaction cannot create a contract")
        if not tx.blob_versioned_hashes:
            return Violation("TYPE_3_TX_ZERO_BLOBS", "a blob transaction must carry at least one blob")
        if any(h[:1] != b"\x01" for h in tx.blob_versioned_hashes):
            return Violation("TYPE_3_TX_INVALID_BLOB_VERSIONED_HASH", "blob versioned hash has the wrong version byte")
        if len(tx.blob_versioned_hashes) * GAS_PER_BLOB > blob_gas_limit:
            return Violation(TOO_MANY_BLOBS, f"{len(tx.blob_versioned_hashes)} blobs exceed the per-block maximum")
    if tx_type == 4:
        if tx.to == b"":
            return Violation("TYPE_4_TX_CONTRACT_CREATION", "a set-code transaction cannot create a contract")
        if not tx.authorization_list:
            return Violation("TYPE_4_EMPTY_AUTHORIZATION_LIST", "a set-code transaction needs a non-empty authorization list")
    return None


# py-evm's own checks, by the words of their messages.
_PYEVM_RULES = (
    ("cannot afford txn gas", "INSUFFICIENT_ACCOUNT_FUNDS"),
    ("not have enough balance", "INSUFFICIENT_ACCOUNT_FUNDS"),
    ("insufficient funds for blob fee", "INSUFFICIENT_ACCOUNT_FUNDS"),
    ("lower than block's base fee", "INSUFFICIENT_MAX_FEE_PER_GAS"),
    ("at least the current blob base fee", "INSUFFICIENT_MAX_FEE_PER_BLOB_GAS"),
    ("at least one blob", "TYPE_3_TX_ZERO_BLOBS"),
    ("expected KZG version", "TYPE_3_TX_INVALID_BLOB_VERSIONED_HASH"),
)


def pyevm_rule(message: str) -> str | None:
    """The rule a py-evm ValidationError message names, if it is one we know."""
    nonce = re.search(r"Invalid transaction nonce: Expected (\d+), but got (\d+)", message)
    if nonce:
        expected, got = map(int, nonce.groups())
        return "NONCE_MISMATCH_TOO_LOW" if got < expected else "NONCE_MISMATCH_TOO_HIGH"
    for words, rule in _PYEVM_RULES:
        if words in message:
            return rule
    return None


def _data_floor_gas(data: bytes) -> int:
    zeros = data.count(0)
    tokens = zeros + 4 * (len(data) - zeros)
    return 21000 + 10 * tokens


def check_fits_in_block(block: Block, index: int, gas_used: int, blob_gas_used: int) -> None:
    """Before tx ``index`` runs: the block must still have room for its gas limit."""
    tx = block.transactions[index]
    if gas_used + tx.gas > block.header.gas_limit:
        raise BlockRejected(
            f"transaction gas limit {tx.gas} exceeds the block's remaining gas "
            f"{block.header.gas_limit - gas_used}",
            index,
            "GAS_ALLOWANCE_EXCEEDED",
        )
    blob = blob_gas_of(tx)
    if not blob:
        return
    limit = max_blob_gas(block)
    if blob_gas_used + blob > limit:
        raise BlockRejected(
            f"blob gas {blob_gas_used + blob} exceeds the block maximum {limit}",
            index,
            TOO_MANY_BLOBS if blob > limit else "TYPE_3_TX_MAX_BLOB_GAS_ALLOWANCE_EXCEEDED",
        )
