"""State changes a block makes outside its transactions.

Before the transactions: the EIP-4788 beacon-root ring buffer (Cancun) and the
EIP-2935 block-hash history (Prague). After them: withdrawals (Shanghai),
block and uncle rewards (before the Merge), and the EIP-7002/7251 request
system calls (Prague). Each step runs on a recording py-evm State, like a
transaction, and returns a write set; the rules are py-evm's own.
"""

from __future__ import annotations

from eth.vm.message import Message

from parexec.block.env import BlockEnv
from parexec.block.validation import fork_lineage
from parexec.evm.recording_state import state_writes
from parexec.model import Block, WriteSet


def pre_block_writes(env: BlockEnv, block: Block, view) -> tuple[WriteSet, dict]:
    fork = fork_lineage(block.vm_class)
    state = env.new_state(view)
    header = block.header
    if "cancun" in fork:
        from eth.vm.forks.cancun.constants import (
            BEACON_ROOTS_ADDRESS,
            BEACON_ROOTS_CONTRACT_CODE,
            HISTORY_BUFFER_LENGTH,
        )

        if state.get_code(BEACON_ROOTS_ADDRESS) == BEACON_ROOTS_CONTRACT_CODE:
            slot = header.timestamp % HISTORY_BUFFER_LENGTH
            state.set_storage(BEACON_ROOTS_ADDRESS, slot, header.timestamp)
            state.set_storage(
                BEACON_ROOTS_ADDRESS,
                slot + HISTORY_BUFFER_LENGTH,
                int.from_bytes(header.parent_beacon_block_root, "big"),
            )
    if "prague" in fork:
        from eth.vm.forks.prague.constants import (
            HISTORY_SERVE_WINDOW,
            HISTORY_STORAGE_ADDRESS,
            HISTORY_STORAGE_CONTRACT_CODE,
        )

        if state.get_code(HISTORY_STORAGE_ADDRESS) == HISTORY_STORAGE_CONTRACT_CODE:
            state.set_storage(
                HISTORY_STORAGE_ADDRESS,
                (header.block_number - 1) % HISTORY_SERVE_WINDOW,
                int.from_bytes(header.parent_hash, "big"),
            )
    return state_writes(state)


def post_block_writes(env: BlockEnv, block: Block, view) -> tuple[WriteSet, dict]:
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
    if "prague" in fork_lineage(vm):
        _prague_request_calls(state)
    return state_writes(state)


def _prague_request_calls(state) -> None:
    """EIP-7002 and EIP-7251 dequeue calls, as py-evm's PragueVM makes them."""
    from eth.constants import SYSTEM_ADDRESS, SYSTEM_MESSAGE_GAS
    from eth.vm.forks.prague.constants import (
        CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
        WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    )

    for address in (WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS):
        code = state.get_code(address)
        if not code:
            continue
        message = Message(
            gas=SYSTEM_MESSAGE_GAS,
            to=address,
            sender=SYSTEM_ADDRESS,
            value=0,
            data=b"",
            code=code,
            code_address=address,
        )
        context = state.get_transaction_context_class()(gas_price=0, origin=SYSTEM_ADDRESS)
        state.computation_class.apply_computation(state, message, context)

