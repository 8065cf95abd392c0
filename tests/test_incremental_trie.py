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
        for key, value in changes:
            if value:
                contents[key] = value
            else:
                contents.pop(key, None)
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
