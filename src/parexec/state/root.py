"""The Merkle-Patricia state root of a complete state."""

from __future__ import annotations

import rlp
from eth.rlp.accounts import Account as RlpAccount
from eth_hash.auto import keccak
from trie import HexaryTrie

from parexec.model import EMPTY_TRIE_ROOT
from parexec.state.memory import MemoryState


def storage_root(slots: dict[int, int]) -> bytes:
    if not slots:
        return EMPTY_TRIE_ROOT
    t = HexaryTrie({})
    for slot, value in slots.items():
        if value:
            t[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
    return t.root_hash


def state_root(state: MemoryState) -> bytes:
    if not state.complete:
        raise ValueError("the state root of a partial state is meaningless")
    t = HexaryTrie({})
    for address, acc in state.accounts.items():
        encoded = rlp.encode(
            RlpAccount(acc.nonce, acc.balance, storage_root(state.slots.get(address, {})), acc.code_hash)
        )
        t[keccak(address)] = encoded
    return t.root_hash
