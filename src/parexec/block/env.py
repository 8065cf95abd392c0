"""What every transaction of a block sees: fork rules, execution context, ancestor hashes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from eth.vm.execution_context import ExecutionContext

CHAIN_ID = 1


class MissingBlockHash(LookupError):
    """BLOCKHASH asked for an ancestor the input data does not provide."""


class AncestorHashes(Sequence):
    """Ancestor hashes by depth (0 = parent), looked up by block number.

    py-evm walks ``prev_hashes`` lazily; an indexable sequence makes BLOCKHASH
    O(1), and a missing hash raises instead of silently returning zero.
    """

    def __init__(self, block_number: int, by_number: Mapping[int, bytes]):
        self.block_number = block_number
        self.by_number = by_number

    def __len__(self) -> int:
        return min(256, self.block_number)

    def __getitem__(self, depth):
        if isinstance(depth, slice):
            return [self[i] for i in range(*depth.indices(len(self)))]
        number = self.block_number - 1 - depth
        if depth < 0 or number < 0:
            raise IndexError(depth)
        try:
            return self.by_number[number]
        except KeyError:
            raise MissingBlockHash(
                f"block {self.block_number} reads BLOCKHASH({number}), which the input data lacks"
            ) from None


def _delta_balance(state, address, delta: int) -> None:
    """Credits, and debits that a balance floor covers, stay pending (parexec.model)."""
    if delta >= 0:
        state._account_db.credit(address, delta)
    else:
        state._account_db.debit(address, -delta)


@lru_cache(maxsize=None)
def recording_state_class(state_class: type) -> type:
    """The fork's py-evm State, running on a RecordingAccountDB over a StateView."""
    from parexec.evm.recording_account_db import RecordingAccountDB

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


@dataclass
class BlockEnv:
    """Per-block constants, built once and shared by every transaction."""

    vm_class: type
    header: object
    state_class: type
    context: ExecutionContext
    forks: frozenset  # fork names of vm_class and its ancestors
    max_blob_gas: int

    @classmethod
    def for_block(cls, block) -> "BlockEnv":
        header = block.header
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
        context._prev_hashes = block.ancestor_hashes
        from parexec.block.validation import fork_lineage, max_blob_gas

        state_class = recording_state_class(block.vm_class.get_state_class())
        return cls(
            block.vm_class, header, state_class, context,
            fork_lineage(block.vm_class), max_blob_gas(block),
        )

    @property
    def coinbase(self) -> bytes:
        return self.header.coinbase

    def new_state(self, view, fee_deltas: bool = True):
        """A fresh py-evm State for one transaction (or one system step) over ``view``.

        With ``fee_deltas`` credits (fees, received value) are deferred (parexec.model).
        """
        state = self.state_class(view, self.context, None)
        if fee_deltas:
            state._account_db.defer_credits()
        return state
