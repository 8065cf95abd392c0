"""Transaction validity that does not depend on the state, and block-level limits.

py-evm's own checks are spread over ``tx.validate()``, the State and the
executor, and some are missing (the intrinsic-gas check of typed transactions,
EIP-3607, EIP-2681, max-blob counts). The rules here follow the execution specs;
a violation rejects the block with a reason that names the rule.
"""

from __future__ import annotations

from eth.vm.forks.cancun.constants import GAS_PER_BLOB
from eth.vm.forks.cancun.constants import MAX_BLOB_GAS_PER_BLOCK as CANCUN_MAX_BLOB_GAS
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague.constants import MAX_BLOB_GAS_PER_BLOCK as PRAGUE_MAX_BLOB_GAS
from eth_utils import ValidationError

from parexec.evm.recording_state import CHAIN_ID
from parexec.model import Block, BlockRejected

MAX_INITCODE_SIZE = 2 * 24576  # EIP-3860 (Shanghai)
UINT256 = 2**256


def fork_lineage(vm_class: type) -> frozenset[str]:
    """Fork names of ``vm_class`` and every VM it inherits from ("cancun" in it means Cancun+)."""
    return frozenset(c.fork for c in vm_class.__mro__ if isinstance(getattr(c, "fork", None), str))


def max_blob_gas(block: Block) -> int:
    return PRAGUE_MAX_BLOB_GAS if "prague" in fork_lineage(block.vm_class) else CANCUN_MAX_BLOB_GAS


def blob_gas_of(tx) -> int:
    return get_total_blob_gas(tx) if getattr(tx, "type_id", None) == 3 else 0


def stateless_violation(tx, forks: frozenset[str], blob_gas_limit: int) -> str | None:
    try:
        tx.validate()
    except (ValidationError, ValueError) as exc:
        return str(exc)
    tx_type = getattr(tx, "type_id", None) or 0
    if tx.nonce >= 2**64 - 1:
        return "nonce is at its maximum (EIP-2681)"
    if tx.gas < tx.intrinsic_gas:
        return f"intrinsic gas too low: gas {tx.gas} < intrinsic {tx.intrinsic_gas}"
    if "prague" in forks:
        floor = _data_floor_gas(tx.data)
        if tx.gas < floor:
            return f"gas {tx.gas} below the calldata floor {floor} (EIP-7623)"
    if tx_type and tx.chain_id != CHAIN_ID:
        return f"chain id {tx.chain_id} is not {CHAIN_ID}"
    fee_cap = tx.max_fee_per_gas if tx_type >= 2 else tx.gas_price
    if tx_type >= 2 and tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        return "max priority fee per gas exceeds max fee per gas"
    if tx.gas * fee_cap >= UINT256:
        return "gas limit * fee cap overflows 256 bits"
    if "shanghai" in forks and tx.to == b"" and len(tx.data) > MAX_INITCODE_SIZE:
        return f"initcode size {len(tx.data)} exceeds {MAX_INITCODE_SIZE} (EIP-3860)"
    if tx_type == 3:
        if tx.to == b"":
            return "a blob transaction cannot create a contract"
        if not tx.blob_versioned_hashes:
            return "a blob transaction must carry at least one blob"
        if any(h[:1] != b"\x01" for h in tx.blob_versioned_hashes):
            return "blob versioned hash has the wrong version byte"
        if len(tx.blob_versioned_hashes) * GAS_PER_BLOB > blob_gas_limit:
            return f"{len(tx.blob_versioned_hashes)} blobs exceed the per-block maximum"
    if tx_type == 4:
        if tx.to == b"":
            return "a set-code transaction cannot create a contract"
        if not tx.authorization_list:
            return "a set-code transaction needs a non-empty authorization list"
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
        )
    blob = blob_gas_of(tx)
    if not blob:
        return
    limit = max_blob_gas(block)
    if blob_gas_used + blob > limit:
        raise BlockRejected(f"blob gas {blob_gas_used + blob} exceeds the block maximum {limit}", index)
