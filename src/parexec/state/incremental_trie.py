"""A Merkle-Patricia trie that is updated, not rebuilt: only the paths a block
dirtied are re-encoded and re-hashed.

Nodes are immutable: an update copies the nodes on its path and shares the rest,
so every earlier root stays valid (a block's parent state for a side chain, the
state a pipelined block executes on while its parent's root is computed) and a
node's encoding, computed once, is cached on it. Rebuilding the state trie from
all its leaves (``trie.trie_root``) costs 26 us a leaf, a second at 40,000
accounts; a block dirties a few thousand leaves.
"""

from __future__ import annotations

from collections.abc import Iterable

import rlp

from parexec.model import EMPTY_TRIE_ROOT
from parexec.state.trie import EMPTY_SLOT, hex_prefix, keccak, nibbles, rlp_list, rlp_string


class _Node:
    """Encoded once; referenced by its parents through ``ref`` (cached too:
    an updated branch re-references its 15 unchanged children). ``stored``: the
    node is in a store (see Stored), and so is everything below it."""

    __slots__ = ("_encoded", "_ref", "stored")

    def ref(self) -> bytes:
        r = self._ref
        if r is None:
            encoded = self.encoded()
            r = self._ref = encoded if len(encoded) < 32 else b"\xa0" + keccak(encoded)
        return r


class Leaf(_Node):
    __slots__ = ("path", "value")

    def __init__(self, path: tuple, value: bytes):
        self.path, self.value, self._encoded, self._ref, self.stored = path, value, None, None, False

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = rlp_list((rlp_string(hex_prefix(self.path, True)), rlp_string(self.value)))
        return self._encoded


class Extension(_Node):
    __slots__ = ("path", "child")

    def __init__(self, path: tuple, child: "Branch"):
        self.path, self.child, self._encoded, self._ref, self.stored = path, child, None, None, False

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = rlp_list((rlp_string(hex_prefix(self.path, False)), self.child.ref()))
        return self._encoded


class Branch(_Node):
    __slots__ = ("children", "value")

    def __init__(self, children: tuple, value: bytes | None = None):
        self.children, self.value, self._encoded, self._ref, self.stored = children, value, None, None, False

    def encoded(self) -> bytes:
        if self._encoded is None:
            slots = [EMPTY_SLOT if c is None else c.ref() for c in self.children]
            slots.append(EMPTY_SLOT if self.value is None else rlp_string(self.value))
            self._encoded = rlp_list(slots)
        return self._encoded


class Stored(_Node):
    """A node known by its hash only, loaded from ``source`` (an object whose
    ``node(hash)`` returns the decoded node: parexec.state.stored_trie) when a
    change goes through it: a trie kept in a store costs memory only where
    blocks wrote."""

    __slots__ = ("hash", "source")

    def __init__(self, node_hash: bytes, source):
        self.hash, self.source, self._encoded, self._ref, self.stored = node_hash, source, None, None, True

    def ref(self) -> bytes:
        return b"\xa0" + self.hash

    def encoded(self) -> bytes:
        return self.resolve().encoded()

    def resolve(self) -> "Leaf | Extension | Branch":
        return self.source.node(self.hash)


Node = Leaf | Extension | Branch | Stored
_NO_CHILDREN = (None,) * 16


def _real(node):
    return node.resolve() if type(node) is Stored else node


def root_hash(root: Node | None) -> bytes:
    """The trie's root hash (the empty trie's for None)."""
    if root is None:
        return EMPTY_TRIE_ROOT
    return root.hash if type(root) is Stored else keccak(root.encoded())


def get(root: Node | None, key: bytes) -> bytes | None:
    """The value at ``key``, or None."""
    path, node = nibbles(key), _real(root)
    while node is not None:
        if isinstance(node, Leaf):
            return node.value if node.path == path else None
        if isinstance(node, Extension):
            if path[:len(node.path)] != node.path:
                return None
            path, node = path[len(node.path):], _real(node.child)
        elif not path:
            return node.value
        else:
            path, node = path[1:], _real(node.children[path[0]])
    return None


def decode_node(encoded: bytes, source, node_hash: bytes | None = None) -> Node:
    """The node whose encoding is ``encoded``, its hashed children Stored in ``source``."""
    node = _branch_of_hashes(encoded, source) or _short_node(encoded, source)
    if node is None:
        node = _from_items(rlp.decode(encoded), source)
    node._encoded, node._ref = encoded, (b"\xa0" + node_hash if node_hash else None)
    return node


def _branch_of_hashes(encoded: bytes, source) -> "Branch | None":
    """The common branch, read directly (a third of rlp.decode's time): children
    empty or by hash, no value; None for anything else."""
    b = encoded[0]
    if b < 0xC0 or len(encoded) < 17:
        return None
    children, pos = [], (1 if b <= 0xF7 else 1 + (b - 0xF7))
    for _ in range(16):
        if pos >= len(encoded):
            return None
        b = encoded[pos]
        if b == 0x80:
            children.append(None)
            pos += 1
        elif b == 0xA0:
            children.append(Stored(encoded[pos + 1:pos + 33], source))
            pos += 33
        else:
            return None
    if pos != len(encoded) - 1 or encoded[pos] != 0x80:
        return None
    node = Branch(tuple(children))
    node.stored = True
    return node


def _string_at(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """The RLP string at ``pos`` and where it ends (None: a list)."""
    b = data[pos]
    if b < 0x80:
        return data[pos:pos + 1], pos + 1
    if b < 0xB8:
        return data[pos + 1:pos + 1 + b - 0x80], pos + 1 + b - 0x80
    if b < 0xC0:
        n = b - 0xB7
        size = int.from_bytes(data[pos + 1:pos + 1 + n], "big")
        return data[pos + 1 + n:pos + 1 + n + size], pos + 1 + n + size
    return None


def _short_node(encoded: bytes, source) -> "Leaf | Extension | None":
    """A leaf or an extension to a hashed child, read directly; None for anything else."""
    b = encoded[0]
    if b < 0xC0 or b > 0xF9:
        return None
    pos = 1 if b <= 0xF7 else 1 + (b - 0xF7)
    first = _string_at(encoded, pos)
    if first is None or not first[0]:
        return None
    packed, pos = first
    second = _string_at(encoded, pos)
    if second is None or second[1] != len(encoded):
        return None
    path = nibbles(packed[1:])
    if packed[0] & 0x10:
        path = (packed[0] & 0x0F,) + path
    if packed[0] & 0x20:
        node = Leaf(path, second[0])
    elif len(second[0]) == 32:
        node = Extension(path, Stored(second[0], source))
    else:
        return None
    node.stored = True
    return node


def _from_items(items: list, source) -> Node:
    if len(items) == 17:
        node = Branch(tuple(_child(c, source) for c in items[:16]), items[16] or None)
    else:
        flag, packed = items[0][0] >> 4, items[0]
        path = tuple(nibbles(packed[1:]))
        if flag & 1:
            path = (packed[0] & 0x0F,) + path
        node = Leaf(path, items[1]) if flag & 2 else Extension(path, _child(items[1], source))
    node.stored = True
    return node


def _child(item, source):
    if item == b"":
        return None
    if isinstance(item, list):  # embedded: its encoding is under 32 bytes
        node = _from_items(item, source)
        node._encoded = rlp.encode(item)
        return node
    return Stored(item, source)


def new_nodes(root: Node | None) -> list[tuple[bytes, Node]]:
    """(hash, node) of every node of the trie not yet in a store, which a store
    keeps by hash: those referenced by hash, and the root whatever its size."""
    out, stack = [], [(root, True)]
    while stack:
        node, is_root = stack.pop()
        if node is None or node.stored:
            continue
        ref = node.ref()
        if is_root or len(ref) == 33:
            out.append((ref[1:] if len(ref) == 33 else keccak(node.encoded()), node))
        if len(ref) < 32 and not is_root:
            continue  # embedded: so is everything below it
        if isinstance(node, Branch):
            stack.extend((c, False) for c in node.children)
        elif isinstance(node, Extension):
            stack.append((node.child, False))
    return out


def settle(nodes: Iterable[Node], source) -> None:
    """After ``nodes`` (from new_nodes) were written to ``source``'s store: each
    refers to its hashed children through Stored, so memory holds only what the
    source caches. (The encodings do not change, so neither does any root.)"""
    for node in nodes:
        if isinstance(node, Branch):
            node.children = tuple(Stored(c.ref()[1:], source) if c is not None and len(c.ref()) == 33 else c
                                  for c in node.children)
        elif isinstance(node, Extension) and len(node.child.ref()) == 33:
            node.child = Stored(node.child.ref()[1:], source)
        node.stored = True


def update(root: Node | None, changes: Iterable[tuple[bytes, bytes | None]]) -> Node | None:
    """The trie ``root`` with each (key, value) of ``changes`` set, a value of None
    or b"" deleting its key (for a key given twice, the last counts). ``root``
    itself is left as it was."""
    latest = {nibbles(key): value for key, value in changes}
    return _update_sorted(root, sorted(latest.items()))


def _update_sorted(node: Node | None, items: list) -> Node | None:
    """``node`` with ``items`` (sorted (path, value) pairs, paths relative to
    ``node``) set: a branch hands each child its share at once, so a node on the
    paths of many changed keys is rebuilt once, not once per key."""
    node = _real(node)
    if len(items) <= 1 or not isinstance(node, Branch):
        for path, value in items:
            node = _insert(node, path, value) if value else _delete(node, path)
        return node
    children, value = list(node.children), node.value
    i = 0
    if not items[0][0]:  # a key that ends at this branch
        value = items[0][1] or None
        i = 1
    changed = value != node.value
    while i < len(items):
        nibble = items[i][0][0]
        j = i + 1
        while j < len(items) and items[j][0][0] == nibble:
            j += 1
        child = _update_sorted(children[nibble], [(path[1:], v) for path, v in items[i:j]])
        if child is not children[nibble]:
            children[nibble], changed = child, True
        i = j
    return _collapse(tuple(children), value) if changed else node


def _common(a: tuple, b: tuple) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _with_child(children: tuple, i: int, child: Node | None) -> tuple:
    return children[:i] + (child,) + children[i + 1:]


def _under(path: tuple, node: Node) -> Node:
    """``node`` placed under ``path`` more nibbles (a branch needs an extension)."""
    if not path:
        return node
    node = _real(node)
    if isinstance(node, Leaf):
        return Leaf(path + node.path, node.value)
    if isinstance(node, Extension):
        return Extension(path + node.path, node.child)
    return Extension(path, node)


def _fork(shared: tuple, a: tuple, a_node: Node | None, a_value: bytes | None, b: tuple, b_value: bytes) -> Node:
    """Where two paths part after ``shared``: a branch holding, at the next nibble of
    ``a``, ``a_node`` (or a leaf of ``a_value``) and, at the next of ``b``, a leaf of
    ``b_value``; a path that ends at the branch puts its value there."""
    children, value = list(_NO_CHILDREN), None
    if a:
        children[a[0]] = a_node if a_node is not None else Leaf(a[1:], a_value)
    else:
        value = a_value
    if b:
        children[b[0]] = Leaf(b[1:], b_value)
    else:
        value = b_value
    return _under(shared, Branch(tuple(children), value))


def _insert(node: Node | None, path: tuple, value: bytes) -> Node:
    if node is None:
        return Leaf(path, value)
    node = _real(node)
    if isinstance(node, Leaf):
        if node.path == path:
            return node if node.value == value else Leaf(path, value)
        c = _common(node.path, path)
        return _fork(path[:c], node.path[c:], None, node.value, path[c:], value)
    if isinstance(node, Extension):
        c = _common(node.path, path)
        if c == len(node.path):
            return Extension(node.path, _insert(node.child, path[c:], value))
        below = _under(node.path[c + 1:], node.child)
        return _fork(path[:c], node.path[c:], below, None, path[c:], value)
    if not path:
        return Branch(node.children, value)
    i = path[0]
    return Branch(_with_child(node.children, i, _insert(node.children[i], path[1:], value)), node.value)


def _delete(node: Node | None, path: tuple) -> Node | None:
    if node is None:
        return None
    node = _real(node)
    if isinstance(node, Leaf):
        return None if node.path == path else node
    if isinstance(node, Extension):
        n = len(node.path)
        if path[:n] != node.path:
            return node
        child = _delete(node.child, path[n:])
        if child is node.child:
            return node
        return None if child is None else _under(node.path, child)
    if not path:
        if node.value is None:
            return node
        return _collapse(node.children, None)
    i = path[0]
    child = _delete(node.children[i], path[1:])
    if child is node.children[i]:
        return node
    return _collapse(_with_child(node.children, i, child), node.value)


def _collapse(children: tuple, value: bytes | None) -> Node | None:
    """A branch, or what it becomes when it holds fewer than two things."""
    held = [i for i, c in enumerate(children) if c is not None]
    if len(held) + (value is not None) >= 2:
        return Branch(children, value)
    if value is not None:
        return Leaf((), value)
    if not held:
        return None
    i = held[0]
    return _under((i,), children[i])
