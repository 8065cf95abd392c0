"""A chain of blocks on an LMDB state store, each proven by its state root.

``Chain.init`` stores a genesis (its state must have the genesis header's root);
``import_block`` decodes a block with its fork's rules, checks its header against
its parent, executes it with a strategy on the head's state, computes the state
root incrementally (only the tries the block dirtied: parexec.state.state_trie)
and commits the block atomically only if every check holds: a rejected block
leaves the store at its parent. A block whose parent is an earlier block still
within the undo window (a side chain) is imported after rewinding to it.

Execution runs on the head's state held in memory (MemoryState), which the worker
pool follows from block to block by diffs; the store is what survives the
process, and what a new process starts from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import rlp

from parexec.block.decoding import block_of, decode_block, decode_header
from parexec.block.header_checks import check_block_size, check_body_roots, check_header, check_outcome
from parexec.block.pipeline import execute_block
from parexec.forks import fork_rules
from parexec.model import BlockOutcome, BlockRejected
from parexec.state.lmdb_store import UNDO_BLOCKS, LmdbStore, StoreError
from parexec.state.memory import MemoryState
from parexec.state.state_trie import StateTrie
from parexec.state.writes import creation_writes

DEFAULT_DB = Path("parexec-db")


class ChainError(Exception):
    """The chain cannot be set up or opened as asked."""


@dataclass(frozen=True)
class ChainConfig:
    """The fork rules of the chain: a test network name (``Cancun``,
    ``PragueToOsakaAtTime15k``...) and a fixture's blob schedule, if any."""

    network: str
    blob_schedule: dict | None = None

    def fork_at(self):
        return fork_rules(self.network, self.blob_schedule)

    def to_json(self) -> bytes:
        return json.dumps({"network": self.network, "blob_schedule": self.blob_schedule}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "ChainConfig":
        d = json.loads(data)
        return cls(d["network"], d.get("blob_schedule"))


@dataclass
class ImportTimes:
    """Where an import's time went."""

    execution: float = 0.0
    state_root: float = 0.0
    persistence: float = 0.0
    blocks: int = 0
    skipped: int = 0  # already on the chain
    gas: int = 0
    rejected: list[str] = field(default_factory=list)


class Chain:
    """An opened chain: its store, its rules, and the head's state and tries."""

    def __init__(self, path: Path = DEFAULT_DB):
        if not (Path(path) / "data.mdb").exists():
            raise ChainError(f"{path}: no chain here (parexec chain init first)")
        self.store = LmdbStore(path)
        config = self.store.get_meta(b"config")
        if config is None or self.store.head() is None:
            self.store.close()
            raise ChainError(f"{path}: the store holds no genesis")
        self.config = ChainConfig.from_json(config)
        self.fork_at = self.config.fork_at()
        self._load()

    def _load(self) -> None:
        """The head's state and tries, from the store."""
        self.state = self.store.load()
        self.trie = StateTrie.of(self.state)
        self.trie.root  # hash every node now, not while the first block is timed

    @classmethod
    def init(cls, path: Path, config: ChainConfig, genesis_rlp: bytes, pre: MemoryState) -> "Chain":
        """A new chain whose block 0 is the genesis block ``genesis_rlp`` on state ``pre``."""
        header = decode_block(config.fork_at(), genesis_rlp).header
        root = StateTrie.of(pre).root
        if root != header.state_root:
            raise ChainError(
                f"the genesis state's root 0x{root.hex()} is not the header's 0x{header.state_root.hex()}")
        store = LmdbStore(path)
        try:
            if store.head() is not None:
                raise ChainError(f"{path}: a chain is already here (remove the folder to start anew)")
            store.put_meta(b"config", config.to_json())
            store.commit(header.block_number, header.hash, rlp.encode(header), creation_writes(pre),
                         {h: c for h, c in pre.codes.items() if c})
        finally:
            store.close()
        return cls(path)

    def close(self) -> None:
        self.store.close()

    @property
    def head(self) -> tuple[int, bytes]:
        return self.store.head()

    def header(self, block_hash: bytes):
        data = self.store.header_rlp(block_hash)
        return None if data is None else decode_header(self.fork_at, data)

    def import_block(self, block_rlp: bytes, strategy, workers: int = 1,
                     times: ImportTimes | None = None) -> BlockOutcome | None:
        """Check, execute and commit one block; BlockRejected leaves the store as it was.
        A block already on the chain is skipped (None)."""
        times = times if times is not None else ImportTimes()
        decoded = decode_block(self.fork_at, block_rlp)
        header = decoded.header
        if self.store.block_hash(header.block_number) == header.hash:
            times.skipped += 1  # already on the chain (an import run again after a crash)
            return None
        self._move_to_parent(header.parent_hash)
        parent = self.header(header.parent_hash)
        vm_class = self.fork_at(header.block_number, header.timestamp)
        check_block_size(vm_class, len(block_rlp))
        check_header(vm_class, header, parent)
        started = time.perf_counter()
        block = block_of(decoded, vm_class, self._ancestors(header.block_number))
        outcome = execute_block(block, self.state, strategy, workers, with_state_root=False)
        post = self.state.derive(outcome.state_diff, outcome.new_code)
        executed = time.perf_counter()
        trie = self.trie.updated(post, outcome.state_diff)
        outcome.state_root = trie.root
        rooted = time.perf_counter()
        check_body_roots(decoded)
        check_outcome(header, outcome)
        self.store.commit(header.block_number, header.hash, rlp.encode(header), outcome.state_diff,
                          outcome.new_code)
        self.state, self.trie = post, trie
        times.execution += executed - started
        times.state_root += rooted - executed
        times.persistence += time.perf_counter() - rooted
        times.blocks += 1
        times.gas += outcome.gas_used
        return outcome

    def rewind(self, number: int) -> None:
        """Back to block ``number`` (at most the last UNDO_BLOCKS blocks)."""
        self.store.rewind(number)
        self._load()

    def _move_to_parent(self, parent_hash: bytes) -> None:
        """Rewind to the block's parent if it is an earlier canonical block."""
        number, head_hash = self.head
        if parent_hash == head_hash:
            return
        parent = self.header(parent_hash)
        if parent is None:
            raise BlockRejected("unknown parent block", rule="UNKNOWN_PARENT")
        if self.store.block_hash(parent.block_number) != parent_hash or parent.block_number < number - UNDO_BLOCKS:
            raise BlockRejected(
                f"the parent, block {parent.block_number}, is not on the chain within the last {UNDO_BLOCKS} blocks")
        try:
            self.rewind(parent.block_number)
        except StoreError as exc:
            raise BlockRejected(str(exc)) from None

    def _ancestors(self, number: int) -> dict[int, bytes]:
        hashes = {}
        for n in range(max(0, number - 256), number):
            h = self.store.block_hash(n)
            if h is not None:
                hashes[n] = h
        return hashes
