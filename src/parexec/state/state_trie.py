"""A complete state's tries, kept from block to block: the account trie and one
storage trie per account, each updated only where a block's diff touched it.

``StateTrie.of(state)`` builds them once from every leaf; ``updated(post, diff)``
gives the next block's, leaving this one valid (the tries share their untouched
nodes), so a side chain can start again from any kept version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import rlp
from eth.rlp.accounts import Account as RlpAccount
from eth_hash.auto import keccak

from parexec.model import EXISTS, STORAGE, STORAGE_RESET, WriteSet
from parexec.state.incremental_trie import Node, root_hash, update
from parexec.state.memory import MemoryState
from parexec.state.view import StateView
from parexec.state.writes import creation_writes


def _slot_key(slot: int) -> bytes:
    return keccak(slot.to_bytes(32, "big"))


def _storage_changes(slots) -> list[tuple[bytes, bytes | None]]:
    """(slot, value) pairs as storage trie changes (a zero value deletes)."""
    return [(_slot_key(slot), rlp.encode(value) if value else None) for slot, value in slots]


@dataclass(frozen=True)
class StateTrie:
    accounts: Node | None = None
    storage: dict[bytes, Node | None] = field(default_factory=dict)  # address -> its storage trie
    storage_roots: dict[bytes, bytes] = field(default_factory=dict)  # address -> root hash

    @property
    def root(self) -> bytes:
        return root_hash(self.accounts)

    @classmethod
    def of(cls, state: MemoryState) -> "StateTrie":
        """The tries of a complete state, built from all its leaves."""
        return cls().updated(state, creation_writes(state), fresh=True)

    def updated(self, post: StateView, diff: WriteSet, fresh: bool = False) -> "StateTrie":
        """The tries of ``post``, the state after a block whose changes are ``diff``
        (a canonical diff: parexec.state.overlay; only accounts are read from
        ``post``). ``fresh``: ``diff`` creates every account it names."""
        slot_writes: dict[bytes, list] = {}
        for loc, value in diff.items():
            if loc[0] == STORAGE:
                slot_writes.setdefault(loc[1], []).append((loc[2], value))
        storage, roots = dict(self.storage), dict(self.storage_roots)
        account_changes = []
        for address in {loc[1] for loc in diff}:
            acc = post.account(address)
            if acc is None:
                storage.pop(address, None)
                roots.pop(address, None)
                account_changes.append((keccak(address), None))
                continue
            if fresh or diff.get((STORAGE_RESET, address)) or diff.get((EXISTS, address)):
                # a new (or re-created) account: the block wrote all of its storage
                trie = update(None, _storage_changes(slot_writes.get(address, ())))
            else:
                trie = update(storage.get(address), _storage_changes(slot_writes.get(address, ())))
            storage[address] = trie
            roots[address] = root_hash(trie)
            leaf = RlpAccount(acc.nonce, acc.balance, roots[address], acc.code_hash)
            account_changes.append((keccak(address), rlp.encode(leaf)))
        return StateTrie(update(self.accounts, account_changes), storage, roots)
