"""What every transaction of a block sees: fork rules, execution context, ancestor hashes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth.vm.execution_context import ExecutionContext

from parexec.block.validation import fork_lineage, max_blob_gas
from parexec.evm.op_log import OpLog, keys_may_change, logging_state_class
from parexec.evm.recording_state import execution_context, new_state, recording_state_class


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


@dataclass
class BlockEnv:
    """Per-block constants, built once and shared by every transaction."""

    vm_class: type
    header: object
    state_class: type
    context: ExecutionContext
    forks: frozenset  # fork names of vm_class and its ancestors
    max_blob_gas: int
    # the locations the pre-block system calls read (block.system.block_start records them):
    # an EIP-7928 list must hold them, though the calls may write nothing
    pre_block_reads: frozenset = frozenset()

    @classmethod
    def for_block(cls, block) -> "BlockEnv":
        return cls(
            block.vm_class, block.header, recording_state_class(block.vm_class.get_state_class()),
            execution_context(block.header, block.ancestor_hashes),
            fork_lineage(block.vm_class), max_blob_gas(block),
        )

    @property
    def coinbase(self) -> bytes:
        return self.header.coinbase

    def new_state(self, view, fee_deltas: bool = True, log_ops: bool = False, tx=None):
        """A fresh py-evm State for one transaction (or one system step) over ``view``.

        With ``fee_deltas`` credits (fees, received value) are deferred (parexec.model);
        with ``log_ops`` its computations log what they compute from storage (evm.op_log),
        for ``tx``.
        """
        if not log_ops:
            return new_state(self.state_class, view, self.context, fee_deltas)
        state = new_state(logging_state_class(self.state_class), view, self.context, fee_deltas)
        state.op_log = OpLog(keys_may_change(self.state_class.computation_class, tx))
        return state
