"""The Merkle-Patricia state root of a complete state."""

from __future__ import annotations

import rlp
from eth.rlp.accounts import Account as RlpAccount
from eth_hash.auto import keccak

from parexec.model import EMPTY_TRIE_ROOT
from parexec.state.memory import MemoryState
from parexec.state.trie import trie_root


def storage_root(slots: dict[int, int]) -> bytes:
    if not slots:
        return EMPTY_TRIE_ROOT
    return trie_root(
        (keccak(slot.to_bytes(32, "big")), rlp.encode(value)) for slot, value in slots.items() if value
    )


def state_root(state: MemoryState) -> bytes:
    if not state.complete:
        raise ValueError("the state root of a partial state is meaningless")
    return trie_root(
        (
            keccak(address),
            rlp.encode(
                RlpAccount(acc.nonce, acc.balance, storage_root(state.slots.get(address, {})), acc.code_hash)
            ),
        )
        for address, acc in state.accounts.items()
    )
