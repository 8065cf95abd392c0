"""The py-evm State a transaction, or one of a block's system steps, runs on:
the fork's own State class with a RecordingAccountDB over a parexec StateView,
and the execution context every transaction of the block shares."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from eth.vm.execution_context import ExecutionContext

from parexec.evm.recording_account_db import RecordingAccountDB
from parexec.model import WriteSet

CHAIN_ID = 1  # mainnet: the CHAINID opcode and typed transactions' chain id


def execution_context(header, ancestor_hashes: Sequence[bytes]) -> ExecutionContext:
    """The block's context; BLOCKHASH reads ``ancestor_hashes`` by depth (0: the
    parent), an indexable sequence instead of py-evm's lazily walked one."""
    context = ExecutionContext(
        coinbase=header.coinbase,
        timestamp=header.timestamp,
        block_number=header.block_number,
        difficulty=header.difficulty,
        mix_hash=header.mix_hash,
        gas_limit=header.gas_limit,
        prev_hashes=(),
        chain_id=CHAIN_ID,
        base_fee_per_gas=getattr(header, "base_fee_per_gas", None),
        excess_blob_gas=getattr(header, "excess_blob_gas", None),
    )
    context._prev_hashes = ancestor_hashes
    return context


def _delta_balance(state, address, delta: int) -> None:
    """Credits, and debits that a balance floor covers, stay pending (parexec.model)."""
    if delta >= 0:
        state._account_db.credit(address, delta)
    else:
        state._account_db.debit(address, -delta)


@lru_cache(maxsize=None)
def recording_state_class(state_class: type) -> type:
    """The fork's py-evm State, running on a RecordingAccountDB over a StateView."""
    return type(
        f"Recording{state_class.__name__}",
        (state_class,),
        {
            "account_db_class": RecordingAccountDB,
            # The stock hook re-sets system contract code that is already there:
            # a no-op that would add a read to every transaction.
            "set_system_contracts": lambda self: None,
            "delta_balance": _delta_balance,
        },
    )


def new_state(state_class: type, view, context: ExecutionContext, fee_deltas: bool = True):
    """A fresh recording State (of a ``recording_state_class``) over ``view``. With
    ``fee_deltas`` credits (fees, received value) are deferred (parexec.model)."""
    state = state_class(view, context, None)
    if fee_deltas:
        state._account_db.defer_credits()
    return state


def account_db(state) -> RecordingAccountDB:
    """The RecordingAccountDB under a recording State."""
    return state._account_db


def state_writes(state) -> tuple[WriteSet, dict[bytes, bytes]]:
    """What the steps run on ``state`` wrote: the write set and new code."""
    return state._account_db.write_set()
