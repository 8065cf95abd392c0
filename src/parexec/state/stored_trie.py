"""The state's trie nodes in the store: what the committer's tries load on demand.

A chain keeps every trie node in the store by its hash (written with the block
that made it, in the same transaction). The committer's tries start from the head
header's state root as a Stored node and load only the nodes a block's changes go
through; decoded nodes are cached up to ``limit``, so the committer's memory is
bounded whatever the size of the state, and opening a chain costs nothing however
large its state. Nodes are content-addressed, so a rewind or a side chain only
starts from another root.
"""

from __future__ import annotations

from parexec.state.incremental_trie import Node, decode_node, settle

CACHE_NODES = 400_000  # about 200 MB of decoded nodes


class TrieNodes:
    """Decoded nodes of a store's tries by hash, cached (the oldest dropped first)."""

    def __init__(self, store, limit: int = CACHE_NODES):
        self.store, self.limit = store, limit
        self.cache: dict[bytes, Node] = {}
        self.loaded = 0  # nodes read from the store

    def node(self, node_hash: bytes) -> Node:
        node = self.cache.get(node_hash)
        if node is None:
            data = self.store.trie_node(node_hash)
            if data is None:
                raise KeyError(f"trie node 0x{node_hash.hex()} is not in the store")
            node = decode_node(data, self, node_hash)
            self.loaded += 1
            self._remember(node_hash, node)
        return node

    def _remember(self, node_hash: bytes, node: Node) -> None:
        self.cache[node_hash] = node
        if len(self.cache) > self.limit:
            for key in list(self.cache)[: self.limit // 10]:
                del self.cache[key]

    def written(self, nodes: list[tuple[bytes, Node]]) -> None:
        """``nodes`` (incremental_trie.new_nodes) are in the store now."""
        settle([node for _, node in nodes], self)
        for node_hash, node in nodes:
            self._remember(node_hash, node)
