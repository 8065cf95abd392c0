"""Transaction validity that does not depend on the state, and block-level limits."""

from __future__ import annotations

from eth.vm.forks.cancun.constants import MAX_BLOB_GAS_PER_BLOCK as CANCUN_MAX_BLOB_GAS
from eth.vm.forks.prague.constants import MAX_BLOB_GAS_PER_BLOCK as PRAGUE_MAX_BLOB_GAS
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth_utils import ValidationError

from parexec.model import Block, BlockRejected


def check_transactions_statelessly(block: Block) -> None:
    """Signature bounds, intrinsic gas, field ranges: py-evm's ``tx.validate()``."""
    for i, tx in enumerate(block.transactions):
        try:
            tx.validate()
        except (ValidationError, ValueError) as exc:
            raise BlockRejected(f"invalid transaction: {exc}", i) from None


def blob_gas_of(tx) -> int:
    return get_total_blob_gas(tx) if getattr(tx, "type_id", None) == 3 else 0


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
    limit = PRAGUE_MAX_BLOB_GAS if block.fork == "prague" else CANCUN_MAX_BLOB_GAS
    if blob and blob_gas_used + blob > limit:
        raise BlockRejected(
            f"blob gas {blob_gas_used + blob} exceeds the block maximum {limit}",
            index,
        )
