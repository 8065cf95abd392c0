"""A complete state's tries, kept from block to block: the account trie and one
storage trie per account, each updated only where a block's diff touched it.

``StateTrie.of(state)`` builds them once from every leaf; ``updated(post, diff)``
gives the next block's, leaving this one valid (the tries share their untouched
nodes), so a side chain can start again from any kept version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import rlp

from parexec.model import EXISTS, STORAGE, STORAGE_RESET, WriteSet
from parexec.model import EMPTY_TRIE_ROOT
from parexec.state.incremental_trie import Node, Stored, get, new_nodes, root_hash, update
from parexec.state.memory import MemoryState
from parexec.state.trie import keccak, rlp_list, rlp_string, rlp_uint
from parexec.state.view import StateView
from parexec.state.writes import creation_writes


def _slot_key(slot: int) -> bytes:
    return keccak(slot.to_bytes(32, "big"))


def _storage_changes(slots) -> list[tuple[bytes, bytes | None]]:
    """(slot, value) pairs as storage trie changes (a zero value deletes)."""
    return [(_slot_key(slot), rlp_uint(value) if value else None) for slot, value in slots]


@dataclass(frozen=True)
class StateTrie:
    """The account trie and the storage tries; ``storage`` holds the storage tries
    this StateTrie has in memory (every non-empty one, unless the tries come from
    a store: then those the last block wrote, the others are found through the
    account leaves)."""

    accounts: Node | None = None
    storage: dict[bytes, Node] = field(default_factory=dict)  # address -> its storage trie
    source: object = None  # where nodes not in memory come from (parexec.state.stored_trie)

    @classmethod
    def stored(cls, root: bytes, source) -> "StateTrie":
        """The tries under state root ``root``, loaded from ``source`` as needed."""
        return cls(None if root == EMPTY_TRIE_ROOT else Stored(root, source), {}, source)

    def written(self) -> "StateTrie":
        """These tries once their new nodes are in the store (source.written):
        storage tries are found through the account leaves again."""
        return StateTrie(self.accounts, {}, self.source)

    def new_nodes(self) -> list:
        """(hash, node) of every node not yet in a store (incremental_trie.new_nodes)."""
        out = new_nodes(self.accounts)
        for trie in self.storage.values():
            out += new_nodes(trie)
        return out

    def _storage_trie(self, address: bytes) -> Node | None:
        trie = self.storage.get(address)
        if trie is not None or self.source is None:
            return trie
        leaf = get(self.accounts, keccak(address))  # the storage root is in the account's leaf
        if leaf is None:
            return None
        root = rlp.decode(leaf)[2]
        return None if root == EMPTY_TRIE_ROOT else Stored(root, self.source)

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
        storage = dict(self.storage)
        account_changes = []
        for address in {loc[1] for loc in diff}:
            acc = post.account(address)
            if acc is None:
                storage.pop(address, None)
                account_changes.append((keccak(address), None))
                continue
            if fresh or diff.get((STORAGE_RESET, address)) or diff.get((EXISTS, address)):
                # a new (or re-created) account: the block wrote all of its storage
                storage.pop(address, None)
                trie = None
            else:
                trie = self._storage_trie(address)
            if address in slot_writes:
                trie = update(trie, _storage_changes(slot_writes[address]))
                if trie is None:
                    storage.pop(address, None)
                else:
                    storage[address] = trie
            leaf = rlp_list((rlp_uint(acc.nonce), rlp_uint(acc.balance), rlp_string(root_hash(trie)),
                             rlp_string(acc.code_hash)))
            account_changes.append((keccak(address), leaf))
        return StateTrie(update(self.accounts, account_changes), storage, self.source)

