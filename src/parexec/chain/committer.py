"""Where a chain's executed blocks are proven and written: the committer owns the
state's tries and the store's one writer. For each block, in order, it updates
the tries where the block's diff touched them, checks the state root against the
header, and commits the block atomically; a block whose root is wrong is
rejected, and the blocks sent after it (executed on its post-state) are
discarded unseen.

It runs in the importing process (``InlineCommitter``: the block waits for its
root) or in a process of its own (``CommitterProcess``): then block N's root and
writes overlap with the execution of block N+1 (pipelined, deferred execution,
as Monad does), and on a 2-core machine the operating system spreads the
committer and the execution over both cores.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import rlp

from parexec.block.header_checks import check_state_root
from parexec.block.pipeline import no_cyclic_gc
from parexec.model import Account, BlockRejected, WriteSet
from parexec.parallel.worker_pool import stop_process
from parexec.state.lmdb_store import LmdbStore, StoreError
from parexec.state.state_trie import StateTrie
from parexec.state.stored_trie import TrieNodes


@dataclass
class Job:
    """One executed block, to be proven by its state root and committed."""

    number: int
    block_hash: bytes
    parent_hash: bytes
    header_rlp: bytes
    state_root: bytes  # the header's
    diff: WriteSet
    new_code: dict[bytes, bytes]
    accounts: dict[bytes, Account | None]  # the post-state of every account the diff names


@dataclass
class Verdict:
    """What became of a job: committed (``error`` None) or rejected."""

    number: int
    block_hash: bytes
    error: str | None = None  # why it was rejected (a message and a rule cross processes)
    rule: str | None = None
    state_root_seconds: float = 0.0
    persistence_seconds: float = 0.0
    already: bool = False  # another process had committed it


DISCARDED = "discarded"  # how a verdict on a block executed on a rejected one starts


class CommitterError(Exception):
    """The committer failed (its process died, or an internal error)."""


class _Accounts:
    """The post-state's accounts, all StateTrie.updated reads."""

    def __init__(self, accounts):
        self.account = accounts.get


class Committer:
    """The tries and the writer (see the module's docstring)."""

    def __init__(self, path: Path):
        self.store = LmdbStore(path)
        self.nodes = TrieNodes(self.store)
        self._load()

    def _load(self) -> None:
        """The head's tries: its header's state root, whose nodes the store holds."""
        self.head = self.store.head()
        state_root = rlp.decode(self.store.header_rlp(self.head[1]))[3]
        self.trie = StateTrie.stored(state_root, self.nodes)
        self.discarding = False

    def close(self) -> None:
        self.store.close()

    def commit(self, job: Job) -> Verdict:
        with no_cyclic_gc():  # a collection would walk every cached node; tries have no cycles
            return self._commit(job)

    def _commit(self, job: Job) -> Verdict:
        if self.discarding:
            return Verdict(job.number, job.block_hash, f"{DISCARDED}: an earlier block was rejected")
        if self.store.head() != self.head:  # another process committed (a killed import's committer)
            self._load()
        if self.head[1] == job.block_hash:
            return Verdict(job.number, job.block_hash, already=True)
        if self.head[1] != job.parent_hash:
            return Verdict(job.number, job.block_hash, f"{DISCARDED}: its parent is not the head")
        started = time.perf_counter()
        trie = self.trie.updated(_Accounts(job.accounts), job.diff)
        try:
            check_state_root(job.state_root, trie.root)
        except BlockRejected as exc:
            self.discarding = True  # what follows was executed on this block's state
            return Verdict(job.number, job.block_hash, exc.reason, exc.rule)
        rooted = time.perf_counter()
        nodes = trie.new_nodes()
        try:
            self.store.commit(job.number, job.block_hash, job.header_rlp, job.diff, job.new_code,
                              parent=job.parent_hash, nodes=nodes)
        except StoreError as exc:  # another process moved the head meanwhile
            self._load()
            return Verdict(job.number, job.block_hash, f"{DISCARDED}: {exc}")
        self.nodes.written(nodes)
        self.trie, self.head = trie.written(), (job.number, job.block_hash)
        return Verdict(job.number, job.block_hash, state_root_seconds=rooted - started,
                       persistence_seconds=time.perf_counter() - rooted)

    def resume(self) -> None:
        """Accept blocks again after a rejection (the importer has caught up)."""
        self.discarding = False

    def rewind(self, number: int) -> None:
        self.store.rewind(number)
        self._load()

    def root(self) -> bytes:
        return self.trie.root


class InlineCommitter:
    """The committer in this process: each block is proven before the next runs."""

    pipelined = False

    def __init__(self, path: Path):
        self.committer = Committer(path)
        self._verdicts: list[Verdict] = []

    def submit(self, job: Job) -> None:
        self._verdicts.append(self.committer.commit(job))

    def verdicts(self, wait: str | None) -> list[Verdict]:
        out, self._verdicts = self._verdicts, []
        return out

    def resume(self) -> None:
        self.committer.resume()

    def rewind(self, number: int) -> None:
        self.committer.rewind(number)

    def root(self) -> bytes:
        return self.committer.root()

    def close(self) -> None:
        self.committer.close()


NICENESS = 10

# messages to the committer process (its replies: ("verdict", Verdict), ("root", bytes),
# ("done", problem) after a rewind, ("error", text))
JOB, RESUME, REWIND, ROOT, STOP = "job", "resume", "rewind", "root", "stop"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a killed one not yet reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _committer_main(conn, path: Path, importer: int) -> None:
    # Behind execution in the queue for a core: it has a block of slack (the
    # pipeline's depth), and execution is what the next blocks wait for.
    os.nice(NICENESS)
    try:
        committer = Committer(path)
    except Exception:
        conn.send(("error", traceback.format_exc(limit=4)))
        return
    conn.send(("ready",))
    handled = 0
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the importer is gone: what is committed stays
            return
        try:
            if msg[0] == JOB:
                if not _alive(importer):  # killed: commit nothing more than it saw committed
                    return
                conn.send(("verdict", committer.commit(msg[1])))
                handled += 1
                if handled % 64 == 0:  # what cycles there are, now and then; the rest is
                    gc.collect()       # kept out of later collections
                    gc.freeze()
            elif msg[0] == RESUME:
                committer.resume()
            elif msg[0] == REWIND:
                try:
                    committer.rewind(msg[1])
                except StoreError as exc:
                    conn.send(("done", str(exc)))
                else:
                    conn.send(("done", None))
            elif msg[0] == ROOT:
                conn.send(("root", committer.root()))
            elif msg[0] == STOP:
                committer.close()
                return
        except (EOFError, OSError):
            return
        except Exception:
            conn.send(("error", traceback.format_exc(limit=4)))


class CommitterProcess:
    """The committer in a process of its own, fed through a pipe: blocks are
    proven and written while the next ones execute."""

    pipelined = True

    def __init__(self, path: Path):
        ctx = multiprocessing.get_context("forkserver")  # a child must not inherit an open store
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_committer_main, args=(child, Path(path), os.getpid()), daemon=True,
                                   name="parexec-committer")
        self.process.start()
        child.close()
        self.in_flight = 0
        self._early: list[Verdict] = []
        self._expect("ready")

    def _receive(self):
        try:
            reply = self.conn.recv()
        except (EOFError, OSError):
            raise CommitterError(f"the committer process died (exit code {self.process.exitcode})") from None
        if reply[0] == "error":
            raise CommitterError(f"the committer failed:\n{reply[1]}")
        return reply

    def _expect(self, kind: str):
        """The next reply of ``kind``, keeping verdicts that come first."""
        while True:
            reply = self._receive()
            if reply[0] == "verdict":
                self.in_flight -= 1
                self._early.append(reply[1])
            elif reply[0] == kind:
                return reply

    def _send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except OSError:
            raise CommitterError(f"the committer process died (exit code {self.process.exitcode})") from None

    def submit(self, job: Job) -> None:
        self._send((JOB, job))
        self.in_flight += 1

    def verdicts(self, wait: str | None) -> list[Verdict]:
        """The verdicts that arrived; with ``wait`` "one", at least one if any is
        due; with "all", every one due."""
        out, self._early = self._early, []
        while self.in_flight and (self.conn.poll() or (wait == "all") or (wait == "one" and not out)):
            reply = self._receive()
            if reply[0] == "verdict":
                self.in_flight -= 1
                out.append(reply[1])
        return out

    def resume(self) -> None:
        self._send((RESUME,))

    def rewind(self, number: int) -> None:
        self._send((REWIND, number))
        problem = self._expect("done")[1]
        if problem:
            raise StoreError(problem)

    def root(self) -> bytes:
        self._send((ROOT,))
        return self._expect("root")[1]

    def close(self) -> None:
        """Stop the process once it has committed what it was sent."""
        stop_process(self.process, self.conn, (STOP,), timeout=120)
