"""The incremental trie against the one-pass builder and py-trie's HexaryTrie,
on random sequences of inserts, updates and deletions."""

from __future__ import annotations

import random

import pytest
from eth_hash.auto import keccak
from trie import HexaryTrie

from parexec.model import EMPTY_TRIE_ROOT
from parexec.state.incremental_trie import root_hash, update
from parexec.state.trie import trie_root


def _random_key(rng: random.Random, kind: str) -> bytes:
    if kind == "hashed":  # the state's keys: 32-byte hashes, never a prefix of another
        return keccak(rng.randbytes(4))
    # short keys of mixed lengths: prefixes of each other, values in branches
    return rng.randbytes(rng.randint(0, 3))


def _apply(contents: dict, changes) -> None:
    """What the trie should now hold: an empty value deletes."""
    for key, value in changes:
        if value:
            contents[key] = value
        else:
            contents.pop(key, None)


def _random_value(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice([1, 3, 20, 40]))  # embedded and hashed nodes both


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", ["hashed", "short"])
def test_random_updates_and_deletions_give_the_rebuilt_root(seed, kind):
    rng = random.Random(seed)
    root, contents = None, {}
    reference = HexaryTrie({})
    known: list[bytes] = []
    for _ in range(30):
        changes = []
        for _ in range(rng.randint(1, 25)):
            if known and rng.random() < 0.35:
                key = rng.choice(known)
                value = b"" if rng.random() < 0.6 else _random_value(rng)
            else:
                key = _random_key(rng, kind)
                value = _random_value(rng)
                known.append(key)
            changes.append((key, value))
        earlier, earlier_hash = root, root_hash(root)
        root = update(root, changes)
        for key, value in changes:
            if value:
                contents[key] = value
                reference[key] = value
            else:
                contents.pop(key, None)
                if reference.get(key):
                    del reference[key]
        assert root_hash(root) == trie_root(contents.items()) == reference.root_hash
        assert root_hash(earlier) == earlier_hash  # an earlier version is untouched


@pytest.mark.parametrize("seed", range(3))
def test_large_batches_on_a_large_trie_give_the_rebuilt_root(seed):
    """A block's batch (hundreds of keys, deletions among them) on thousands of
    leaves: the batched descent through branches, not one key at a time."""
    rng = random.Random(seed)
    contents = {keccak(rng.randbytes(8)): _random_value(rng) for _ in range(3000)}
    root = update(None, contents.items())
    for _ in range(4):
        changes = [(key, b"" if rng.random() < 0.3 else _random_value(rng))
                   for key in rng.sample(sorted(contents), 300)]
        changes += [(keccak(rng.randbytes(8)), _random_value(rng)) for _ in range(200)]
        root = update(root, changes)
        _apply(contents, changes)
        assert root_hash(root) == trie_root(contents.items())


def test_deleting_everything_leaves_the_empty_trie():
    keys = [keccak(bytes([i])) for i in range(50)]
    root = update(None, [(k, b"\x01" * 40) for k in keys])
    assert root_hash(root) != EMPTY_TRIE_ROOT
    root = update(root, [(k, None) for k in reversed(keys)])
    assert root is None and root_hash(root) == EMPTY_TRIE_ROOT


def test_an_update_shares_what_it_did_not_touch():
    keys = [keccak(bytes([i])) for i in range(256)]
    root = update(None, [(k, b"v" * 40) for k in keys])
    changed = update(root, [(keys[0], b"w" * 40)])
    untouched = [c for c in root.children if c is not None]
    kept = [c for c in changed.children if c is not None and any(c is u for u in untouched)]
    assert len(kept) == len(untouched) - 1  # only the branch the key lies under was copied


class _DictSource:
    """Nodes by hash, decoded again on every visit (no cache): every path a change
    takes goes through decode_node."""

    def __init__(self):
        self.encodings: dict[bytes, bytes] = {}

    def node(self, node_hash: bytes):
        from parexec.state.incremental_trie import decode_node

        return decode_node(self.encodings[node_hash], self, node_hash)

    def write(self, root):
        from parexec.state.incremental_trie import new_nodes, settle

        nodes = new_nodes(root)
        for node_hash, node in nodes:
            self.encodings[node_hash] = node.encoded()
        settle([node for _, node in nodes], self)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["hashed", "short"])
def test_a_stored_trie_updates_like_one_in_memory(seed, kind):
    """A trie written to a store and reopened from its root hash alone (Stored),
    then updated batch after batch, each batch's new nodes written and the trie
    reopened again: the same roots as the trie kept in memory, and every key
    found with its value."""
    from parexec.state.incremental_trie import Stored, get

    rng = random.Random(seed)
    source = _DictSource()
    memory, contents, known = None, {}, []
    stored = None
    for _ in range(12):
        changes = []
        for _ in range(rng.randint(1, 60)):
            if known and rng.random() < 0.4:
                key, value = rng.choice(known), (b"" if rng.random() < 0.5 else _random_value(rng))
            else:
                key, value = _random_key(rng, kind), _random_value(rng)
                known.append(key)
            changes.append((key, value))
        memory = update(memory, changes)
        stored = update(stored, changes)
        _apply(contents, changes)
        assert root_hash(stored) == root_hash(memory) == trie_root(contents.items())
        if stored is not None:
            source.write(stored)
            stored = Stored(root_hash(stored), source)  # reopened from the root hash alone
        for key in rng.sample(known, min(20, len(known))):
            assert get(stored, key) == contents.get(key)
