"""A chain of blocks on an LMDB state store, each proven by its state root.

``Chain.init`` stores a genesis (its state must have the genesis header's root).
``import_block`` decodes a block with its fork's rules, checks its header against
its parent, executes it with a strategy on the state at its parent (a snapshot
of the store, parexec.state.store_state, which worker processes read on their
own), checks receipts, gas, bloom and requests, and hands the block to the
committer (parexec.chain.committer), which checks the state root, computed
incrementally, and commits the block atomically. A rejected block leaves the
store at its parent. A block whose parent is an earlier block still within the
undo window (a side chain) is imported after rewinding to it.

``import_blocks`` pipelines (``pipeline=True``): the committer runs in a process
of its own and block N+1 executes on N's post-state while N's root is computed
and N is written; N+1 is committed only after N's root matched, and a wrong root
discards the blocks executed on top of it (they are executed again on the
right state, where they meet the rejected parent).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import rlp

from parexec.block.decoding import block_of, decode_block, decode_header
from parexec.block.header_checks import check_block_size, check_body_roots, check_header, check_outcome
from parexec.block.pipeline import execute_block
from parexec.chain.committer import DISCARDED, CommitterProcess, InlineCommitter, Job, Verdict
from parexec.forks import fork_rules
from parexec.model import BlockOutcome, BlockRejected
from parexec.state.lmdb_store import UNDO_BLOCKS, LmdbStore, StoreError
from parexec.state.memory import MemoryState
from parexec.state.overlay import OverlayState
from parexec.state.state_trie import StateTrie
from parexec.state.store_state import StoreState
from parexec.state.writes import creation_writes

DEFAULT_DB = Path("parexec-db")
PIPELINE_DEPTH = 3  # blocks executed ahead of the last committed one


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
    """Where an import's time went: execution in the importing process, state
    root and persistence in the committer (which overlap execution when pipelined)."""

    execution: float = 0.0
    state_root: float = 0.0
    persistence: float = 0.0
    blocks: int = 0
    skipped: int = 0  # already on the chain
    gas: int = 0
    rejected: list[str] = field(default_factory=list)


@dataclass
class _Executed:
    """A block executed and handed to the committer, not yet committed."""

    label: object
    block_rlp: bytes
    header: object
    diff: dict
    new_code: dict
    gas: int


class Chain:
    """An opened chain: its store, its rules and its committer."""

    def __init__(self, path: Path = DEFAULT_DB, pipeline: bool = False):
        if not (Path(path) / "data.mdb").exists():
            raise ChainError(f"{path}: no chain here (parexec chain init first)")
        self.path = Path(path)
        self.store = LmdbStore(path)
        config = self.store.get_meta(b"config")
        if config is None or self.store.head() is None:
            self.store.close()
            raise ChainError(f"{path}: the store holds no genesis")
        self.config = ChainConfig.from_json(config)
        self.fork_at = self.config.fork_at()
        try:
            self.committer = CommitterProcess(self.path) if pipeline else InlineCommitter(self.path)
        except BaseException:
            self.store.close()
            raise
        self._executed: deque[_Executed] = deque()  # oldest first
        self._settled: deque[tuple[_Executed, Verdict]] = deque()  # verdicts not yet reported
        self._times = ImportTimes()

    @classmethod
    def init(cls, path: Path, config: ChainConfig, genesis_rlp: bytes, pre: MemoryState) -> "Chain":
        """A new chain whose block 0 is the genesis block ``genesis_rlp`` on state ``pre``."""
        header = decode_block(config.fork_at(), genesis_rlp).header
        trie = StateTrie.of(pre)
        root = trie.root
        if root != header.state_root:
            raise ChainError(
                f"the genesis state's root 0x{root.hex()} is not the header's 0x{header.state_root.hex()}")
        store = LmdbStore(path)
        try:
            if store.head() is not None:
                raise ChainError(f"{path}: a chain is already here (remove the folder to start anew)")
            store.put_meta(b"config", config.to_json())
            store.commit(header.block_number, header.hash, rlp.encode(header), creation_writes(pre),
                         {h: c for h, c in pre.codes.items() if c}, nodes=trie.new_nodes())
        finally:
            store.close()
        return cls(path)

    def close(self) -> None:
        """Close the chain; blocks handed to the committer are still committed."""
        self.committer.close()
        self.store.close()

    @property
    def head(self) -> tuple[int, bytes]:
        """The last committed block: (number, hash)."""
        return self.store.head()

    def state_root(self) -> bytes:
        """The committed head's state root, from the committer's incremental tries."""
        self._settle()
        return self.committer.root()

    def state(self) -> MemoryState:
        """The committed head's whole state, in memory."""
        return self.store.load()

    def accounts(self) -> int:
        """How many accounts the committed head's state holds."""
        view = self.store.view()
        try:
            return view.entries("accounts")
        finally:
            view.close()

    def header(self, block_hash: bytes):
        for done in self._executed:
            if done.header.hash == block_hash:
                return done.header
        data = self.store.header_rlp(block_hash)
        return None if data is None else decode_header(self.fork_at, data)

    def import_block(self, block_rlp: bytes, strategy, workers: int = 1,
                     times: ImportTimes | None = None) -> BlockOutcome | None:
        """Check, execute and commit one block, waiting for its state root; a
        BlockRejected leaves the store as it was. A block already on the chain is
        skipped (None)."""
        self._times = times if times is not None else ImportTimes()
        outcome = self._execute(None, block_rlp, strategy, workers)
        self._settle()
        settled, self._settled = self._settled, deque()
        for done, verdict in settled:
            if verdict.error is not None and done.block_rlp is block_rlp:
                raise BlockRejected(verdict.error, rule=verdict.rule)
        return outcome

    def import_blocks(self, blocks: Iterable[tuple[object, bytes]], strategy, workers: int = 1,
                      times: ImportTimes | None = None) -> Iterator[tuple[object, str | None]]:
        """Import ``(label, block RLP)`` pairs in order, executing ahead of the
        committer when it has a process of its own; yields each block's label as
        it is settled, with None (committed, or already on the chain) or why it was
        rejected."""
        self._times = times if times is not None else ImportTimes()
        todo = deque(blocks)
        depth = PIPELINE_DEPTH if self.committer.pipelined else 1
        while todo or self._executed or self._settled:
            self._settle("one" if len(self._executed) >= depth or not todo else None)
            again = []
            while self._settled:
                done, verdict = self._settled.popleft()
                if verdict.error is None:
                    yield done.label, None
                elif verdict.error.startswith(DISCARDED):  # executed again, on the right state
                    again.append((done.label, done.block_rlp))
                else:
                    self._times.rejected.append(f"{done.label}: {verdict.error}")
                    yield done.label, verdict.error
            todo.extendleft(reversed(again))
            if not todo or len(self._executed) >= depth:
                continue
            label, block_rlp = todo.popleft()
            try:
                if self._execute(label, block_rlp, strategy, workers) is None:
                    yield label, None  # already on the chain
            except (BlockRejected, StoreError) as exc:
                self._times.rejected.append(f"{label}: {exc}")
                yield label, str(exc)

    def _settle(self, wait: str | None = "all") -> None:
        """Move the committer's verdicts to ``_settled``: those that arrived, at
        least one (``wait`` "one") or all that are due ("all"). After a rejection,
        it waits for the blocks executed on top of the rejected one: they come
        back discarded."""
        verdicts = self.committer.verdicts(wait)
        discarded = []
        while verdicts:
            verdict = verdicts.pop(0)
            done = self._executed.popleft()
            assert done.header.hash == verdict.block_hash, "verdicts come in order"
            times = self._times
            if verdict.error is None:
                times.state_root += verdict.state_root_seconds
                times.persistence += verdict.persistence_seconds
                if verdict.already:
                    times.skipped += 1
                else:
                    times.blocks += 1
                    times.gas += done.gas
            elif verdict.error.startswith(DISCARDED):
                discarded.append((done, verdict))  # after the rejection they follow
                continue
            else:
                self.committer.resume()
                verdicts += self.committer.verdicts("all")
            self._settled.append((done, verdict))
        self._settled.extend(discarded)
    def _execute(self, label, block_rlp: bytes, strategy, workers: int) -> BlockOutcome | None:
        """Check and execute one block on its parent's state and hand it to the
        committer; None if it is on the chain already."""
        decoded = decode_block(self.fork_at, block_rlp)
        header = decoded.header
        if self.store.block_hash(header.block_number) == header.hash or any(
                done.header.hash == header.hash for done in self._executed):
            self._times.skipped += 1  # already on the chain (an import run again after a crash)
            return None
        self._move_to_parent(header.parent_hash)
        parent = self.header(header.parent_hash)
        vm_class = self.fork_at(header.block_number, header.timestamp)
        check_block_size(vm_class, len(block_rlp))
        check_header(vm_class, header, parent)
        started = time.perf_counter()
        block = block_of(decoded, vm_class, self._ancestors(header.block_number))
        base = StoreState(self.path, tuple((done.diff, done.new_code) for done in self._executed))
        try:
            outcome = execute_block(block, base, strategy, workers, with_state_root=False)
            check_body_roots(decoded)
            check_outcome(header, outcome)
            post = OverlayState(base)
            post.apply(outcome.state_diff, outcome.new_code)
            accounts = {loc[1]: post.account(loc[1]) for loc in outcome.state_diff}
        finally:
            base.close()
        self._times.execution += time.perf_counter() - started
        self.committer.submit(Job(header.block_number, header.hash, header.parent_hash, rlp.encode(header),
                                  header.state_root, outcome.state_diff, outcome.new_code, accounts))
        self._executed.append(_Executed(label, block_rlp, header, outcome.state_diff, outcome.new_code,
                                        outcome.gas_used))
        return outcome

    def rewind(self, number: int) -> None:
        """Back to block ``number`` (at most the last UNDO_BLOCKS blocks)."""
        self._settle()
        self.committer.rewind(number)

    def _move_to_parent(self, parent_hash: bytes) -> None:
        """Rewind to the block's parent if it is an earlier canonical block."""
        if self._executed and self._executed[-1].header.hash == parent_hash:
            return
        self._settle()
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
        hashes = {done.header.block_number: done.header.hash for done in self._executed}
        for n in range(max(0, number - 256), number):
            if n not in hashes:
                h = self.store.block_hash(n)
                if h is not None:
                    hashes[n] = h
        return hashes
