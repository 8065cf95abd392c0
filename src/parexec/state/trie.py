"""Merkle-Patricia trie roots computed in one pass from all key/value pairs.

py-evm builds roots by inserting into a HexaryTrie one key at a time, hashing
and storing every intermediate node: about 0.1-0.2 ms per key, so the receipts
root of a 1,000-transaction block costs as much as executing a good share of
it, serially, after every strategy. Here the pairs are sorted once and each
node of the final trie is encoded and hashed exactly once (as Geth's StackTrie
does). The result is the same root (tests compare it with HexaryTrie).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from _pysha3 import keccak_256

from parexec.model import EMPTY_TRIE_ROOT


def keccak(data: bytes) -> bytes:
    return keccak_256(data).digest()  # eth_hash's wrapper costs as much as the hash


def trie_root(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The root of the trie holding ``pairs`` (distinct keys, non-empty values)."""
    items = sorted((nibbles(key), value) for key, value in pairs)
    if not items:
        return EMPTY_TRIE_ROOT
    return keccak(_node(items, 0))


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """The root of a block's list trie (transactions, receipts, withdrawals):
    key ``rlp(i)`` holds ``values[i]``."""
    shape = ordered_shape(len(values))
    return shape.root([leaf_reference(path, value) for path, value in zip(shape.paths, values)])


class OrderedShape:
    """The trie under keys rlp(0) .. rlp(n-1), which n alone decides: each key's
    leaf path and the nodes above the leaves. So a list trie's leaves can be
    encoded and hashed anywhere, in any order, given their index (workers hash
    shares of a block's receipts), and the root then costs only the few nodes
    above them (about one for every 16 leaves)."""

    def __init__(self, n: int):
        paths: list[bytes] = [b""] * n
        items = sorted((nibbles(rlp_uint(i)), i) for i in range(n))
        self.top = _shape(items, 0, paths) if items else None
        self.paths = tuple(paths)  # per index: its leaf's remaining key, hex-prefixed and RLP-encoded

    def root(self, references: Sequence[bytes]) -> bytes:
        """The root, given every leaf's reference (see leaf_reference)."""
        if self.top is None:
            return EMPTY_TRIE_ROOT
        if type(self.top) is int:  # a single leaf: the root hashes it, however short
            ref = references[0]
            return ref[1:] if len(ref) == 33 else keccak(ref)
        return keccak(_encode(self.top, references))


@lru_cache(maxsize=32)
def ordered_shape(n: int) -> OrderedShape:
    return OrderedShape(n)


def leaf_reference(path: bytes, value: bytes) -> bytes:
    """How its parent holds the leaf with ``path`` (an OrderedShape's) and ``value``."""
    return node_reference(rlp_list((path, rlp_string(value))))


def _shape(items: list, depth: int, paths: list):
    """The node under which ``items`` ((nibbles, index), sorted, sharing
    ``depth`` nibbles) lie: a leaf's index, (path, child) for an extension, or a
    branch's 16 children (None: empty). Fills in each leaf's path."""
    if len(items) == 1:
        key, index = items[0]
        paths[index] = rlp_string(hex_prefix(key[depth:], True))
        return index
    common = _shared_depth(items, depth)
    if common > depth:
        return rlp_string(hex_prefix(items[0][0][depth:common], False)), _shape(items, common, paths)
    children: list = [None] * 16  # RLP keys are prefix-free: no key ends at a branch
    for nibble, group in _groups(items, depth, 0):
        children[nibble] = _shape(group, depth + 1, paths)
    return children


def _encode(node, references: Sequence[bytes]) -> bytes:
    """An internal node of an OrderedShape, encoded."""
    if len(node) == 2:
        return rlp_list((node[0], _reference(node[1], references)))
    return rlp_list([EMPTY_SLOT if child is None else _reference(child, references) for child in node] + [EMPTY_SLOT])


def _reference(node, references: Sequence[bytes]) -> bytes:
    return references[node] if type(node) is int else node_reference(_encode(node, references))


_HEX_DIGITS = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


def nibbles(key: bytes) -> tuple[int, ...]:
    return tuple(key.hex().encode().translate(_HEX_DIGITS))


# RLP written directly (the rlp package's type inference costs more than a whole
# trie node): a string, an unsigned integer, or a list of already encoded items.
def rlp_string(b: bytes) -> bytes:
    if len(b) == 1 and b[0] < 0x80:
        return b
    return rlp_length(len(b), 0x80) + b


def rlp_list(encoded_items) -> bytes:
    payload = b"".join(encoded_items)
    return rlp_length(len(payload), 0xC0) + payload


def rlp_uint(i: int) -> bytes:
    return rlp_string(i.to_bytes((i.bit_length() + 7) // 8, "big"))


def rlp_length(n: int, offset: int) -> bytes:
    if n < 56:
        return bytes([offset + n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


EMPTY_SLOT = b"\x80"  # an empty branch slot


_HEX_CHARS = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")


def hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 0x20 if leaf else 0
    if len(nibbles) % 2:
        return bytes((flag | 0x10 | nibbles[0],)) + bytes.fromhex(bytes(nibbles[1:]).translate(_HEX_CHARS).decode())
    return bytes((flag,)) + bytes.fromhex(bytes(nibbles).translate(_HEX_CHARS).decode())


def node_reference(encoded: bytes) -> bytes:
    """How a parent holds a child node: embedded if its encoding is under 32
    bytes, else by the hash of the encoding."""
    return encoded if len(encoded) < 32 else rlp_string(keccak(encoded))


def _node(items: list, depth: int) -> bytes:
    """The encoded node under which all ``items`` (sorted, sharing ``depth``
    nibbles) lie."""
    if len(items) == 1:
        key, value = items[0]
        return rlp_list((rlp_string(hex_prefix(key[depth:], True)), rlp_string(value)))
    common = _shared_depth(items, depth)
    if common > depth:
        path = rlp_string(hex_prefix(items[0][0][depth:common], False))
        return rlp_list((path, node_reference(_node(items, common))))
    branch = [EMPTY_SLOT] * 17
    start = 0
    if len(items[0][0]) == depth:  # a key ends here: its value sits in the branch
        branch[16] = rlp_string(items[0][1])
        start = 1
    for nibble, group in _groups(items, depth, start):
        branch[nibble] = node_reference(_node(group, depth + 1))
    return rlp_list(branch)


def _shared_depth(items: list, depth: int) -> int:
    """How many nibbles all ``items`` (sorted by key, sharing ``depth``) share:
    the first and the last key's common prefix."""
    first, last = items[0][0], items[-1][0]
    common, end = depth, min(len(first), len(last))
    while common < end and first[common] == last[common]:
        common += 1
    return common


def _groups(items: list, depth: int, start: int):
    """``items[start:]`` (sorted by key) in runs sharing the nibble at ``depth``:
    (nibble, run) each, the children of a branch there."""
    i = start
    while i < len(items):
        nibble = items[i][0][depth]
        j = i + 1
        while j < len(items) and items[j][0][depth] == nibble:
            j += 1
        yield nibble, items[i:j]
        i = j
