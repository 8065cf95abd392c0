"""The one-pass trie root equals py-evm's HexaryTrie root."""

import os
import random

import pytest
import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie

from parexec.model import EMPTY_TRIE_ROOT
from parexec.state.trie import ordered_trie_root, trie_root


def hexary_root(pairs) -> bytes:
    t = HexaryTrie({})
    for key, value in pairs:
        t[key] = value
    return t.root_hash


@pytest.mark.parametrize("n", [0, 1, 2, 3, 15, 16, 17, 127, 128, 129, 300, 1000])
def test_ordered_root_equals_hexary_trie(n):
    rng = random.Random(n)
    # values of every size around the 32-byte embedding limit
    values = [bytes(rng.randrange(256) for _ in range(rng.choice([1, 5, 20, 31, 32, 33, 120]))) for _ in range(n)]
    expected = hexary_root((rlp.encode(i), v) for i, v in enumerate(values))
    assert ordered_trie_root(values) == expected
    if n == 0:
        assert expected == EMPTY_TRIE_ROOT


@pytest.mark.parametrize("seed", range(40))
def test_random_keys_with_shared_prefixes_equal_hexary_trie(seed):
    rng = random.Random(seed)
    keys = set()
    stem = os.urandom(3)
    for _ in range(rng.randrange(1, 60)):
        length = rng.randrange(0, 6)
        # many keys share a stem, some are prefixes of others
        keys.add(stem[: rng.randrange(0, 4)] + bytes(rng.randrange(4) for _ in range(length)))
    keys.discard(b"")
    pairs = [(k, bytes([rng.randrange(1, 256)]) * rng.randrange(1, 40)) for k in keys]
    assert trie_root(pairs) == hexary_root(pairs)


def test_hashed_keys_like_the_state_trie():
    pairs = [(keccak(i.to_bytes(20, "big")), rlp.encode(i * 7919)) for i in range(500)]
    assert trie_root(pairs) == hexary_root(pairs)


@pytest.mark.parametrize("n", [1, 2, 129, 4097, 70_000])
def test_ordered_shape_gives_the_root_from_leaves_hashed_in_any_share(n):
    """The leaves of a list trie hashed in shares, anywhere (as workers hash a
    block's receipts), give the root of the whole; keys of 1 to 4 bytes."""
    from parexec.state.trie import leaf_reference, ordered_shape, rlp_uint

    rng = random.Random(n)
    values = [bytes(rng.randrange(256) for _ in range(rng.choice([1, 20, 31, 40]))) for _ in range(n)]
    shape = ordered_shape(n)
    cuts = sorted({0, n, *(rng.randrange(n) for _ in range(3))})
    references = []
    for first, end in zip(cuts, cuts[1:]):
        references += [leaf_reference(shape.paths[i], values[i]) for i in range(first, end)]
    expected = trie_root((rlp_uint(i), v) for i, v in enumerate(values)) if n > 1000 else \
        hexary_root((rlp.encode(i), v) for i, v in enumerate(values))
    assert shape.root(references) == expected == ordered_trie_root(values)
