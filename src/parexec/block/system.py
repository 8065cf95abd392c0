"""State changes a block makes outside its transactions.

Before the transactions: the EIP-4788 beacon-root ring buffer (Cancun) and the
EIP-2935 block-hash history (Prague). After them: withdrawals (Shanghai),
block and uncle rewards (before the Merge), and the EIP-7002/7251 request
system calls (Prague), whose outputs become the block's requests. Each step
runs on a recording py-evm State, like a transaction, and returns a write set;
the system calls run the contracts' own code, as the execution specs do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from eth.vm.message import Message

from parexec.block.env import BlockEnv
from parexec.evm.recording_state import account_db, state_writes
from parexec.model import Block, BlockRejected, WriteSet
from parexec.state.overlay import OverlayState


@dataclass(frozen=True)
class SystemCallOutputs:
    """What the post-block system calls returned (EIP-7002, EIP-7251)."""

    withdrawals: bytes = b""
    consolidations: bytes = b""


def block_start(block: Block, pre_state) -> tuple[BlockEnv, OverlayState]:
    """The block's environment, and the state its first transaction starts from:
    ``pre_state`` (not changed) with the pre-block system writes over it. The
    environment holds what those calls read (``pre_block_reads``)."""
    env = BlockEnv.for_block(block)
    state = OverlayState(pre_state)
    reads: set = set()
    state.apply(*pre_block_writes(env, block, state, reads))
    return replace(env, pre_block_reads=frozenset(reads)), state


def pre_block_writes(env: BlockEnv, block: Block, view, reads: set | None = None) -> tuple[WriteSet, dict]:
    """The EIP-4788 and EIP-2935 system calls: the contract's own code runs with the
    parent's beacon root or hash as input (whatever code is there; nothing if none).
    ``reads``: gets the locations the calls read (see collect_reads)."""
    fork = env.forks
    state = env.new_state(view)
    header = block.header
    if "cancun" in fork:
        from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS

        _system_call(state, BEACON_ROOTS_ADDRESS, header.parent_beacon_block_root)
    if "prague" in fork:
        from eth.vm.forks.prague.constants import HISTORY_STORAGE_ADDRESS

        _system_call(state, HISTORY_STORAGE_ADDRESS, header.parent_hash)
    collect_reads(state, reads)
    return state_writes(state)


def post_block_writes(
    env: BlockEnv, block: Block, view, complete_state: bool = True, reads: set | None = None
) -> tuple[WriteSet, dict, SystemCallOutputs]:
    """Withdrawals, rewards and the request system calls. With ``complete_state``
    a request contract without code rejects the block; a partial pre-state (a
    mainnet dump) may simply not list it, so the call is then left out.
    ``reads``: gets the locations the calls read (see collect_reads)."""
    state = env.new_state(view)
    vm = block.vm_class
    if block.withdrawals:
        touched: list[bytes] = []
        for withdrawal in block.withdrawals:
            state.apply_withdrawal(withdrawal)
            if withdrawal.address not in touched:
                touched.append(withdrawal.address)
        for address in touched:
            if state.account_is_empty(address):
                state.delete_account(address)
    # Proof-of-stake forks pay no block reward (py-evm: ParisVM._assign_block_rewards).
    if block.number > 0 and vm.get_block_reward() != 0:
        reward = vm.get_block_reward() + len(block.uncles) * vm.get_nephew_reward()
        state.delta_balance(block.header.coinbase, reward)
        for uncle in block.uncles:
            state.delta_balance(uncle.coinbase, vm.get_uncle_reward(block.number, uncle))
    outputs = SystemCallOutputs()
    if "prague" in env.forks:
        outputs = _request_calls(state, complete_state)
    collect_reads(state, reads)
    writes, new_code = state_writes(state)
    return writes, new_code, outputs


def collect_reads(state, reads: set | None) -> None:
    """Add to ``reads`` (unless None) the locations read on ``state``, for an
    EIP-7928 list, which holds every address the steps around the transactions
    access (a system contract; a withdrawal's recipient, whatever the amount) and,
    among ``storage_reads``, the slots they only read (the EIP-7002/7251
    dequeues read their queues)."""
    if reads is not None:
        reads.update(account_db(state).reads)


def _request_calls(state, complete_state: bool) -> SystemCallOutputs:
    """EIP-7002 and EIP-7251 dequeue calls; each must find code and must not fail."""
    from eth.vm.forks.prague.constants import (
        CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
        WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    )

    outputs = []
    for address in (WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS):
        if not state.get_code(address):
            if complete_state:
                raise BlockRejected(
                    f"system contract 0x{address.hex()} has no code (EIP-7002/7251)", rule="SYSTEM_CONTRACT_EMPTY"
                )
            outputs.append(b"")
            continue
        computation = _system_call(state, address, b"")
        if computation.is_error:
            raise BlockRejected(
                f"system contract 0x{address.hex()} call failed: {computation.error!r} (EIP-7002/7251)",
                rule="SYSTEM_CONTRACT_CALL_FAILED",
            )
        outputs.append(computation.output)
    return SystemCallOutputs(*outputs)


def _system_call(state, address: bytes, data: bytes):
    """A call from the system address with 30M gas and no value, as a client makes
    it outside any transaction; returns the computation (None if no code)."""
    from eth.constants import SYSTEM_ADDRESS, SYSTEM_MESSAGE_GAS

    code = state.get_code(address)
    if not code:
        return None
    message = Message(
        gas=SYSTEM_MESSAGE_GAS,
        to=address,
        sender=SYSTEM_ADDRESS,
        value=0,
        data=data,
        code=code,
        code_address=address,
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=SYSTEM_ADDRESS)
    return state.computation_class.apply_computation(state, message, context)
