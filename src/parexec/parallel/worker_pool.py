"""Worker processes kept alive across blocks.

CPython threads cannot run py-evm in parallel, so parallel strategies use
processes. The coordinator (the parent) works too: ``--workers N`` means the
parent plus N-1 worker processes, because on few cores a coordinator that only
waits wastes one of them.

State reaches a worker once per pre-state: a new, unrelated pre-state is pickled
once and sent to every worker; a pre-state derived from the previous one (the
next block of a chain, see ``MemoryState.derive``) is sent as its diff. A block
goes without its transactions, with a worker's first task (one write: the last
of many workers does not wait for every other one's block before its first
chunk); each transaction travels with the first task that needs it on that
worker, so the coordinator never pickles the ones it executes itself and a
worker starts after one chunk, not the whole block. Then
only MV-memory updates and transaction indices cross the pipe, and compact
TxResults come back. Once the transactions are done, the idle workers encode
and hash shares of the block's receipts for the pipeline (``receipt_leaves``).

A worker that dies is noticed on its pipe, its unfinished tasks are handed back
to the caller, and a fresh process replaces it with the current state. A worker
that hangs (stopped, looping, swapped out) is treated the same once it has held
tasks without replying or beginning another transaction for longer than its
patience (``WORKER_TIMEOUT`` plus its transaction's gas at ``GAS_PER_SECOND``):
it is killed and replaced. Only a coordinator that waits checks this, so the
hot path pays nothing; any strategy ends up waiting for a hung worker (its
result, or its reply to the final drain), so none is missed. Messages to a
worker are written without blocking, so one that stopped reading (its pipe
full: a new pre-state is megabytes) is found hung as well, not waited for.

A worker may hold several requests (occ's engine and the all-at-once engine give it
two: the next chunk waits in its pipe, so it never idles between
chunks); replies are small and the coordinator drains them before
it waits, so neither side blocks on a full pipe for long. ``claim`` tells a
worker which transactions the coordinator executes itself (it skips them and
streams its further results); shared memory shows which transaction each worker
is executing, so the coordinator can wait for it rather than execute it twice.
"""

from __future__ import annotations

import atexit
import gc
import math
import multiprocessing
import os
import pickle
import select
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field, replace

from parexec.block.receipts import receipt_leaves
from parexec.parallel import run_trace
from parexec.parallel.mv_memory import MVMemory
from parexec.parallel.protocol import (
    ACCESSED,
    ADVANCE,
    BASE,
    BLOCK,
    CLAIM,
    DONE,
    IDLE,
    PING,
    RECEIPTS,
    RESULTS,
    RUN,
    STOP,
    Outcome,
    decode_result,
)
from parexec.parallel.worker import worker_main
from parexec.state.overlay import OverlayState

# A worker that holds tasks and for this long neither replies nor begins another
# transaction is hung (plus the running transaction's gas limit at GAS_PER_SECOND:
# py-evm runs 3-10 million gas a second, so no honest transaction comes near).
WORKER_TIMEOUT = 20.0
GAS_PER_SECOND = 1_000_000
# test blocks carry gas limits up to 2**63: a transaction's gas adds at most an hour,
# and a wait is polled in spans poll() accepts (it takes a C int of milliseconds)
MAX_GAS_SECONDS = 3600.0
MAX_POLL_MS = 2**31 - 1
TIMEOUT_ENV = "PAREXEC_WORKER_TIMEOUT"  # overrides WORKER_TIMEOUT (seconds)
READY_TIMEOUT = 10.0  # at least this long for a ping's answer (a new process may still be importing)
# receipts a process encodes and hashes at least (about 3.5 us each): fewer cost
# more to send than to hash in the coordinator
MIN_RECEIPTS = 64


@dataclass(eq=False)
class Worker:
    process: multiprocessing.Process
    conn: object
    running: object  # shared memory: the tx it is executing (-1: none yet)
    synced: int = 0  # how many entries of the block's update log it has
    requests: deque = field(default_factory=deque)  # outstanding task lists, in order
    has_txs: set = field(default_factory=set)  # transaction indices it was sent
    # the current BLOCK message is still to be written: it goes with the worker's first
    # request (one write), so a worker starts on its first chunk as soon as its block is in
    block_due: bool = False
    holds_block: int = -1  # the serial of the block whose pickle it holds (WorkerPool._block_serial)
    worked: bool = False  # it was given tasks since it was last told the block's work is over
    progress: tuple = (-1, 0.0)  # (running tx, time.monotonic) when last seen to move or reply
    sock: object = None  # the pipe's socket, to write to without blocking (see write_within)

    @property
    def idle(self) -> bool:
        return not self.requests

    @property
    def tasks(self) -> list[int]:
        return [j for tasks in self.requests for j in tasks]


class WorkerPool:
    def __init__(self, start_method: str = "fork", timeout: float | None = None):
        """``timeout``: WORKER_TIMEOUT, unless given or set in the environment
        (PAREXEC_WORKER_TIMEOUT, for tests that hang a worker on purpose)."""
        self.start_method = start_method
        self.timeout = timeout if timeout is not None else float(os.environ.get(TIMEOUT_ENV, WORKER_TIMEOUT))
        self.ctx = multiprocessing.get_context(start_method)
        self.workers: list[Worker] = []
        # one poll set for all pipes: the coordinator checks for replies after
        # every transaction it commits, so the check must cost next to nothing
        self._poller = select.poll()
        self._by_fd: dict[int, Worker] = {}
        self.base = None
        self._base_payload: bytes | None = None
        self.block = None
        self._block_payload: bytes | None = None
        self._block_msg = None
        self._access_list: bytes | None = None  # the current block's EIP-7928 list (RLP), if it has one
        self._block_frames: dict = {}  # the current BLOCK message's frames, with the block and without
        self._block_serial = 0  # counts the blocks started: which one a worker holds (Worker.holds_block)
        self.log: list = []  # MV updates of the current block, in order
        self.trace = None  # the RunTrace of the current block, if one is recorded
        self.waited = 0.0  # seconds the coordinator has spent blocked on results (coordinator_time)
        self.messages = 0  # messages written to workers, ever (coordinator_time)
        self.replaced = 0  # workers replaced (dead or hung), ever
        self.hung = 0  # of which found hung
        self._at_block_start = (0, 0)  # (replaced, hung) when the current block started
        self._orphaned: list[int] = []  # tasks of workers that died before taking them
        self._answers_due: set[Worker] = set()  # workers asked ACCESSED whose answer is not taken yet
        # the accounts and slots accessed by the current block's results the workers held to its
        # EIP-7928 list, as their replies carried them (protocol)
        self.accessed: tuple[set, set] = (set(), set())

    # ------------------------------------------------------------ lifecycle
    def resize(self, n: int) -> None:
        while len(self.workers) > n:
            self._stop(self.workers.pop())
        while len(self.workers) < n:
            self.workers.append(self._spawn())

    def _spawn(self) -> Worker:
        parent_conn, child_conn = self.ctx.Pipe()
        running = self.ctx.RawValue("q", -1)
        gc.collect()
        gc.freeze()
        process = self.ctx.Process(target=worker_main, args=(child_conn, running), daemon=True)
        process.start()
        gc.unfreeze()
        child_conn.close()
        sock = socket.socket(fileno=os.dup(parent_conn.fileno()))  # Pipe() is a socket pair
        worker = Worker(process, parent_conn, running, sock=sock)
        self._by_fd[parent_conn.fileno()] = worker
        self._poller.register(parent_conn.fileno(), select.POLLIN)
        if self.base is not None:
            self._send(worker, (BASE, self._base_bytes()))
        worker.block_due = self._block_msg is not None  # with its first request, if the block has one
        return worker

    def _forget(self, worker: Worker) -> None:
        fd = worker.conn.fileno()
        if self._by_fd.pop(fd, None) is not None:
            self._poller.unregister(fd)
        if worker.sock is not None:
            worker.sock.close()

    def _stop(self, worker: Worker) -> None:
        try:
            write_within(worker.sock, _frame((STOP,)), 1.0)  # not blocking on a stopped one
        except OSError:
            pass
        self._forget(worker)
        stop_process(worker.process, worker.conn, None, timeout=1)

    def shutdown(self) -> None:
        self.resize(0)

    def wait_ready(self) -> None:
        """Return once every worker answers (benchmarks start the clock after); one
        that does not within max(timeout, READY_TIMEOUT) seconds is replaced (three tries)."""
        self.drain()
        pinged: set[Worker] = set(self.workers)  # all at once: they answer while we wait
        for worker in list(self.workers):
            self._send(worker, (PING,))
        for index in range(len(self.workers)):
            tries = 0
            while True:
                worker = self.workers[index]  # a replacement, once one was found dead or hung
                if worker not in pinged:
                    pinged.add(worker)
                    self._send(worker, (PING,))
                    continue
                try:
                    if worker.conn.poll(max(self.timeout, READY_TIMEOUT)):
                        if worker.conn.recv() != (PING,):
                            raise RuntimeError("a worker answered a ping with something else")
                        break
                    self.hung += 1
                except (EOFError, OSError):
                    pass
                tries += 1
                if tries == 3:
                    raise RuntimeError("a worker process did not start: three in a row never answered")
                self._replace(worker)

    # ------------------------------------------------------------ per block
    def _due_block(self, worker: Worker) -> tuple[bytes, ...]:
        """The frames of the current BLOCK message, if ``worker`` has not been written
        it yet (else none): the block pickled (unless the worker holds it), and the
        block's EIP-7928 list after it as it is, a frame of its own (protocol:
        BLOCK). Both are framed once a block and the same bytes written to every
        worker: pickled and framed for each, a 120 KB list cost 87 us a worker to
        frame, and 16 us to write."""
        if not worker.block_due:
            return ()
        worker.block_due = False
        held = worker.holds_block == self._block_serial
        worker.holds_block = self._block_serial
        frames = self._block_frames.get(held)
        if frames is None:
            frame = _frame((BLOCK, None if held else self._block_bytes()) + self._block_msg[2:])
            listed = self._access_list
            if listed is None:
                frames = (frame,)
            else:  # the list's frame: its length goes with the message, its bytes follow unframed
                frames = (frame + struct.pack("!i", len(listed)), listed)
            self._block_frames[held] = frames
        return frames

    def _base_bytes(self) -> bytes:
        if self._base_payload is None:
            self._base_payload = pickle.dumps(self.base, protocol=pickle.HIGHEST_PROTOCOL)
        return self._base_payload

    def _block_bytes(self) -> bytes:
        if self._block_payload is None:
            shell = replace(self.block, transactions=())  # they follow with the tasks
            self._block_payload = pickle.dumps(shell, protocol=pickle.HIGHEST_PROTOCOL)
        return self._block_payload

    def release(self) -> None:
        """Claim every transaction: workers stop after the task at hand (their
        replies still come). A strategy that finishes a block alone calls it, since
        on these machines a busy worker slows the coordinator's core too."""
        for worker in self.workers:
            if not worker.idle:
                self._send(worker, (CLAIM, len(self.block.transactions), False))

    def drain(self) -> None:
        """Cut short and discard the work still in flight: strategies call it when a
        block's transactions are done, so no worker keeps computing speculation
        nobody needs."""
        self.release()
        while any(not w.idle for w in self.workers):
            self.collect(None)
        for worker in list(self._answers_due):  # answers nobody took (the block was rejected): off the pipe
            self.accessed_from(worker)

    def end_block(self, let_go: bool = False) -> None:
        """The block's work is over: the workers that worked on it collect their
        garbage now (IDLE), while the coordinator finishes the block, not when the
        next one starts. (The pipeline calls it once the receipts are hashed.)
        ``let_go``: the block is done with (the pipeline's call), and the pool
        drops it too: freeing a block's transactions and what they cache (0.7 ms
        for erc20:txs=1000) falls to whoever holds it last, not to the next
        block's start, which is timed."""
        self.drain()
        for worker in self.workers:
            if worker.worked:
                worker.worked = False
                self._send(worker, (IDLE,))
        if let_go:
            self.block, self._block_payload, self._block_msg = None, None, None
            self._access_list, self._block_frames = None, {}
            for worker in self.workers:
                worker.block_due = False

    def receipt_leaves(self, fields: list) -> list[bytes]:
        """block.receipts.build_receipts' ``leaves``: the receipts' trie leaves,
        shares encoded and hashed by the (idle) workers while the coordinator does
        the first. A worker that dies, hangs or answers nonsense is replaced and
        its share done here."""
        n = len(fields)
        idle = [w for w in self.workers if w.idle]
        parts = min(len(idle) + 1, n // MIN_RECEIPTS)
        if parts < 2:
            return receipt_leaves(n, 0, fields)
        size = math.ceil(n / parts)
        shares = []
        for worker, first in zip(idle, range(size, n, size)):
            self._send(worker, (RECEIPTS, n, first, fields[first:first + size]))
            shares.append((worker, first))
        references = receipt_leaves(n, 0, fields[:size])
        for worker, first in shares:
            references += self._leaves_from(worker, n, first, fields[first:first + size])
        return references

    def ask_accessed(self, wanted: dict) -> dict:
        """Ask each worker in ``wanted`` (Worker -> transaction indices) for the
        accounts and slots its executions of those accessed (protocol: ACCESSED);
        ``accessed_from`` takes the answer. The workers are idle (drained)."""
        asked = {}
        for worker, txs in wanted.items():
            if worker in self.workers:
                self._send(worker, (ACCESSED, txs))
                if worker in self.workers:  # not found dead while sending
                    asked[worker] = txs
                    self._answers_due.add(worker)
        return asked

    def accessed_from(self, worker: Worker) -> tuple[set, set] | None:
        """A worker's answer to ``ask_accessed``: (addresses, slots), or None if it
        died, hangs or could not say (it is replaced)."""
        self._answers_due.discard(worker)
        reply = self._reply(worker, lambda reply: reply[0] == ACCESSED and len(reply) == 3)
        return None if reply is None else (reply[1], reply[2])

    def _leaves_from(self, worker: Worker, n: int, first: int, share: list) -> list[bytes]:
        reply = self._reply(worker, lambda reply: reply[0] == RECEIPTS and len(reply[1]) == len(share))
        return receipt_leaves(n, first, share) if reply is None else reply[1]

    def _reply(self, worker: Worker, sound) -> tuple | None:
        """An idle worker's reply to a question, if ``sound(reply)``; else None, and
        the worker (dead, hung past the pool's timeout, or answering nonsense) is
        replaced."""
        try:
            if worker in self.workers:
                if worker.conn.poll(self.timeout):
                    reply = worker.conn.recv()
                    if sound(reply):
                        return reply
                else:
                    self.hung += 1
        except (EOFError, OSError):
            pass
        self._replace(worker)
        return None

    def start_block(self, base, block, pre_writes, pre_code, trace=None, access_list=None,
                    log_ops=None) -> None:
        """Give every worker the pre-state (if it changed) now, and the block and its
        system writes with its first request (one write: at 32 workers, writing
        every worker its block before any its first chunk kept the last waiting
        31 blocks and lists long); with ``trace`` (a parallel.run_trace.RunTrace)
        the workers time each execution and ``collect`` records it there; with
        ``access_list`` (the RLP of the block's EIP-7928 list) each worker loads
        and checks it; ``log_ops``: the transactions whose executions log
        operations (protocol). A worker given no request never gets the block."""
        self.end_block()
        self._at_block_start = (self.replaced, self.hung)
        self.trace = trace
        if base is not self.base:
            origin = getattr(base, "origin", None)
            derived = origin is not None and self.base is not None and origin[0]() is self.base
            self.base, self._base_payload = base, None
            for worker in list(self.workers):
                if derived:
                    self._send(worker, (ADVANCE, origin[1], origin[2]))
                else:
                    self._send(worker, (BASE, self._base_bytes()))
        if block is not self.block:
            self.block, self._block_payload = block, None
            self._block_serial += 1
        listed = None if access_list is None else len(block.transactions)
        self._block_msg = (BLOCK, None, pre_writes, pre_code, trace is not None, listed, log_ops)
        self._access_list, self._block_frames = access_list, {}
        for worker in self.workers:
            worker.block_due = True  # written with its first request (submit)
            worker.synced = 0
            worker.requests = deque()
            worker.has_txs = set()
            worker.running.value = -1  # it is idle (drained): nothing of this block yet
        self.log = []
        self._orphaned = []
        self.accessed = (set(), set())

    # ------------------------------------------------------------ tasks
    def publish(self, update, origin: "Worker | None" = None) -> None:
        """Append a multi-version memory update (parallel.protocol: WRITE or
        ESTIMATE) for every worker; ``origin``, the worker that produced it (and
        already holds it), is skipped."""
        self.log.append((origin, update))

    def idle_workers(self, queue: int = 1) -> list[Worker]:
        """Workers with fewer than ``queue`` requests outstanding."""
        return [w for w in self.workers if len(w.requests) < queue]

    def submit(self, worker: Worker, tasks: list[int], chain: bool) -> None:
        """Send ``tasks`` to ``worker`` (executed in the order given)."""
        if not tasks:
            raise ValueError("a request needs at least one task")
        updates = [u for origin, u in self.log[worker.synced:] if origin is not worker]
        worker.synced = len(self.log)
        txs = {j: self.block.transactions[j] for j in tasks if j not in worker.has_txs}
        worker.has_txs.update(txs)
        if not worker.requests:  # its silence counts from now
            worker.progress = (worker.running.value, time.monotonic())
        worker.requests.append(list(tasks))
        worker.worked = True
        self._write(worker, *self._due_block(worker), _frame((RUN, updates, txs, tasks, chain)))  # if it
        # died, its requests come back as orphaned from the next collect

    @staticmethod
    def running(worker: Worker) -> int:
        """The tx ``worker`` is executing (or executed last)."""
        return worker.running.value

    @staticmethod
    def started(worker: Worker) -> list[int]:
        """The tasks ``worker`` has begun, in order: those of its outstanding requests
        up to the one it is executing (the earlier ones are done, their results on the
        way with the rest of their run). Tasks run in the order sent, each once."""
        tasks, j = worker.tasks, worker.running.value
        return tasks[:tasks.index(j) + 1] if j in tasks else []

    def claim(self, worker: Worker, upto: int) -> None:
        """Tell ``worker`` that the coordinator executes every tx up to ``upto``
        itself: it skips them and sends its further results at once."""
        if worker.requests:
            self._send(worker, (CLAIM, upto, False))

    def claim_only(self, worker: Worker, tasks) -> None:
        """Tell ``worker`` that ``tasks`` alone are executed elsewhere (one message):
        it skips them and sends its further results at once."""
        if worker.requests:
            self._send(worker, (CLAIM, tuple(tasks), True))

    def collect(self, timeout: float | None = 0) -> tuple[list[Outcome], list[int]]:
        """The outcomes that arrived within ``timeout`` (None: wait for at least
        one), and the tasks of workers that died or hung (to be executed elsewhere)."""
        outcomes = []
        if any(w.requests for w in self.workers):
            if self._orphaned:
                timeout = 0  # the caller has work to redo at once
            for fd in self._ready(timeout):
                worker = self._by_fd.get(fd)
                if worker is None:
                    continue
                if worker.idle:  # no reply is due: the pipe closed, it died idle
                    self._replace(worker)
                    continue
                try:
                    reply = worker.conn.recv()
                except (EOFError, OSError):
                    self._replace(worker)
                    continue
                worker.progress = (worker.running.value, time.monotonic())
                if reply[0] == RESULTS:  # the last reply to its oldest request
                    worker.requests.popleft()
                if reply[2] is not None:  # what the results it held to the block's list accessed
                    self.accessed[0].update(reply[2][0])
                    self.accessed[1].update(reply[2][1])
                for kind, j, value, *span in reply[1]:  # a span when traced: start, end
                    outcome = Outcome(kind, j, decode_result(value) if kind == DONE else value, worker)
                    outcomes.append(outcome)
                    if span and self.trace is not None:
                        slot = self.workers.index(worker) + 1
                        self.trace.span(slot, j, span[0], span[1], kind, outcome.value)
        orphaned, self._orphaned = self._orphaned, []
        return outcomes, orphaned

    def _ready(self, timeout: float | None) -> list[int]:
        """The pipes with something to read within ``timeout`` (None: until one has).
        A wait is cut into spans no longer than the busy workers' patience; after
        each silent span a worker that hung is replaced, and its tasks are orphaned."""
        if timeout == 0:
            return [fd for fd, _event in self._poller.poll(0)]
        began = time.monotonic()
        end = None if timeout is None else began + timeout
        try:
            while True:
                now = time.monotonic()
                wait = self._patience(now)
                if end is not None:
                    wait = min(wait, max(0.0, end - now))
                ready = self._poller.poll(None if wait == float("inf") else min(int(wait * 1000) + 1, MAX_POLL_MS))
                if ready:
                    return [fd for fd, _event in ready]
                if self._replace_hung() or (end is not None and time.monotonic() >= end):
                    return []
        finally:
            self.waited += time.monotonic() - began

    def _allowed(self, worker: Worker) -> float:
        """How long ``worker`` may stay silent on the transaction it is at (or its
        first task, not begun yet)."""
        j = worker.progress[0]
        if j < 0 or j >= len(self.block.transactions):
            j = worker.requests[0][0]
        return self.timeout + min(self.block.transactions[j].gas / GAS_PER_SECOND, MAX_GAS_SECONDS)

    def _patience(self, now: float) -> float:
        """Seconds until the first busy worker's silence would make it hung."""
        wait = float("inf")
        for worker in self.workers:
            if worker.requests:
                running = worker.running.value
                if running != worker.progress[0]:  # it began another transaction
                    worker.progress = (running, now)
                wait = min(wait, worker.progress[1] + self._allowed(worker) - now)
        return max(0.0, wait)

    def _replace_hung(self) -> bool:
        """Kill and replace every busy worker silent past its patience; True if any."""
        now, found = time.monotonic(), False
        for worker in list(self.workers):
            if worker.requests and worker.running.value == worker.progress[0] \
                    and now - worker.progress[1] >= self._allowed(worker):
                self.hung += 1
                self._replace(worker)
                found = True
        return found

    def faults(self) -> tuple[int, int]:
        """Workers replaced in the current block (dead or hung), and of those hung."""
        return self.replaced - self._at_block_start[0], self.hung - self._at_block_start[1]

    def _send(self, worker: Worker, msg) -> None:
        """Send, or replace a worker found dead or hung, not reading its pipe for
        as long as it may be silent (its tasks come back as orphaned)."""
        self._write(worker, _frame(msg))

    def _write(self, worker: Worker, *frames: bytes) -> None:
        """Write ``frames`` in turn (one message), or replace the worker as ``_send`` does."""
        self.messages += 1
        patience = self._allowed(worker) if worker.requests else self.timeout
        try:
            sent = True
            for frame in frames:
                sent = sent and write_within(worker.sock, frame, patience)
        except OSError:
            sent = None
        if not sent:
            self.hung += sent is False
            self._replace(worker)

    def _replace(self, worker: Worker) -> None:
        """Swap a dead worker for a fresh one holding the current base and block;
        its outstanding tasks are reported as orphaned by the next collect."""
        if worker not in self.workers:
            return  # already replaced
        self._orphaned.extend(worker.tasks)
        worker.requests.clear()
        self._forget(worker)
        try:
            worker.conn.close()
        except OSError:
            pass
        if worker.process.is_alive():
            worker.process.kill()  # SIGKILL: it ends even if stopped
        worker.process.join(timeout=1)
        index = self.workers.index(worker)
        self.replaced += 1
        self.workers[index] = self._spawn()


def _frame(msg) -> bytes:
    """``msg`` as multiprocessing.connection.Connection.send puts it on the pipe
    (its length, then the pickle), for recv at the other end."""
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("!i", len(data)) + data


def write_within(sock, frame: bytes, patience: float) -> bool:
    """Write ``frame`` without ever blocking for longer than ``patience`` seconds
    with no room freed in the pipe; False if the reader let it stay full that
    long (it is not reading: hung). OSError if the reader is gone."""
    view = memoryview(frame)
    poller = None
    while view:
        try:
            view = view[sock.send(view, socket.MSG_DONTWAIT):]
        except BlockingIOError:
            if poller is None:
                poller = select.poll()
                poller.register(sock, select.POLLOUT)
            if not poller.poll(min(int(patience * 1000) + 1, MAX_POLL_MS)):
                return False
    return True


def stop_process(process, conn, message, timeout: float) -> None:
    """Ask a child to stop (``message`` on its pipe, None: already asked), kill it
    if it has not within ``timeout`` seconds, and close the pipe."""
    try:
        if message is not None:
            conn.send(message)
    except OSError:
        pass
    process.join(timeout=timeout)
    if process.is_alive():
        process.kill()
        process.join()
    conn.close()


_POOL: WorkerPool | None = None


def get_pool(processes: int, start_method: str = "fork") -> WorkerPool:
    """The process-wide pool, resized to ``processes`` worker processes started
    by ``start_method``: "fork" (fast, and a worker inherits what is loaded), or
    "forkserver" for a pre-state that holds what a child must not inherit (an
    open LMDB store: parexec.state.store_state)."""
    global _POOL
    if _POOL is not None and _POOL.start_method != start_method:
        _POOL.shutdown()
        _POOL = None
    if _POOL is None:
        if start_method == "forkserver":
            multiprocessing.set_forkserver_preload(["parexec.parallel.worker"])
        _POOL = WorkerPool(start_method)
        atexit.register(_POOL.shutdown)
    _POOL.resize(processes)
    return _POOL


def pool_in_use() -> WorkerPool | None:
    """The pool, if its workers worked on the block under way (end_block not yet called)."""
    return _POOL if _POOL is not None and any(w.worked for w in _POOL.workers) else None


def open_block(block, state, workers: int, phase: str = run_trace.EXECUTION,
               access_list: bytes | None = None, log_ops=None) -> tuple[WorkerPool, MVMemory]:
    """Start ``block`` on the pool with ``workers`` - 1 worker processes: they get the
    pre-state (if it changed) and the block's pre-block system writes, which
    ``state`` (an OverlayState over the pre-state) holds, and ``access_list`` (see
    start_block, as ``log_ops``). Returns the pool and the coordinator's multi-version memory over
    the same starting point. ``phase`` names what the strategy does with the block
    now, for a run trace."""
    pre_writes, pre_code = state.diff(), state.new_code()
    start = OverlayState(state.base)
    start.apply(pre_writes, pre_code)
    trace = run_trace.active()
    if trace is not None:
        trace.begin(phase, state)
    pool = get_pool(workers - 1, getattr(state.base, "start_method", "fork"))
    pool.start_block(state.base, block, pre_writes, pre_code, trace, access_list, log_ops)
    return pool, MVMemory(start)
