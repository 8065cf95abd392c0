"""Worker processes kept alive across blocks.

CPython threads cannot run py-evm in parallel, so parallel strategies use
processes. The coordinator (the parent) works too: ``--workers N`` means the
parent plus N-1 worker processes, because on few cores a coordinator that only
waits wastes one of them.

State reaches a worker once per pre-state: a new, unrelated pre-state is pickled
once and sent to every worker; a pre-state derived from the previous one (the
next block of a chain, see ``MemoryState.derive``) is sent as its diff. Each
block's transactions go once per block; after that only MV-memory updates and
transaction indices cross the pipe, and compact TxResults come back.

A worker that dies is noticed on its pipe, its unfinished tasks are handed back
to the caller, and a fresh process replaces it with the current state.

Only one request is outstanding per worker, and the coordinator always drains
replies before it waits, so neither side blocks on a full pipe for long.
"""

from __future__ import annotations

import atexit
import gc
import multiprocessing
import pickle
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from parexec.parallel.worker import worker_main


@dataclass(eq=False)
class Worker:
    process: multiprocessing.Process
    conn: object
    synced: int = 0  # how many entries of the block's update log it has
    tasks: list[int] = field(default_factory=list)  # outstanding, in order

    @property
    def idle(self) -> bool:
        return not self.tasks


class WorkerDied(Exception):
    pass


class WorkerPool:
    def __init__(self):
        self.ctx = multiprocessing.get_context("fork")
        self.workers: list[Worker] = []
        self.base = None
        self._base_payload: bytes | None = None
        self.block = None
        self._block_payload: bytes | None = None
        self._block_msg = None
        self.log: list = []  # MV updates of the current block, in order
        self.replaced = 0
        self._orphaned: list[int] = []  # tasks of workers that died before taking them

    # ------------------------------------------------------------ lifecycle
    def resize(self, n: int) -> None:
        while len(self.workers) > n:
            self._stop(self.workers.pop())
        while len(self.workers) < n:
            self.workers.append(self._spawn())

    def _spawn(self) -> Worker:
        parent_conn, child_conn = self.ctx.Pipe()
        gc.collect()
        gc.freeze()
        process = self.ctx.Process(target=worker_main, args=(child_conn,), daemon=True)
        process.start()
        gc.unfreeze()
        child_conn.close()
        worker = Worker(process, parent_conn)
        if self.base is not None:
            self._send(worker, ("base", self._base_bytes()))
        if self._block_msg is not None:
            self._send(worker, ("block", self._block_bytes()) + self._block_msg[2:])
        return worker

    def _stop(self, worker: Worker) -> None:
        try:
            worker.conn.send(("stop",))
        except OSError:
            pass
        worker.process.join(timeout=1)
        if worker.process.is_alive():
            worker.process.kill()
        worker.conn.close()

    def shutdown(self) -> None:
        self.resize(0)

    # ------------------------------------------------------------ per block
    def _base_bytes(self) -> bytes:
        if self._base_payload is None:
            self._base_payload = pickle.dumps(self.base, protocol=pickle.HIGHEST_PROTOCOL)
        return self._base_payload

    def _block_bytes(self) -> bytes:
        if self._block_payload is None:
            self._block_payload = pickle.dumps(self.block, protocol=pickle.HIGHEST_PROTOCOL)
        return self._block_payload

    def drain(self) -> None:
        """Cut short and discard the work still in flight: strategies call it when a
        block is done, so no worker keeps computing speculation nobody needs."""
        for worker in self.workers:
            if not worker.idle:
                self._send(worker, ("cancel",))
        while any(not w.idle for w in self.workers):
            self.collect(None)

    def start_block(self, base, block, pre_writes, pre_code) -> None:
        """Give every worker the pre-state (if it changed), the block and its system writes."""
        self.drain()
        if base is not self.base:
            origin = getattr(base, "origin", None)
            derived = origin is not None and self.base is not None and origin[0]() is self.base
            self.base, self._base_payload = base, None
            for worker in list(self.workers):
                if derived:
                    self._send(worker, ("advance", origin[1], origin[2]))
                else:
                    self._send(worker, ("base", self._base_bytes()))
        same_block = block is self.block
        if not same_block:
            self.block, self._block_payload = block, None
        self._block_msg = ("block", None, pre_writes, pre_code)
        for worker in list(self.workers):
            payload = None if same_block else self._block_bytes()
            self._send(worker, ("block", payload, pre_writes, pre_code))
            worker.synced = 0
            worker.tasks = []
        self.log = []
        self._orphaned = []

    # ------------------------------------------------------------ tasks
    def publish(self, update, origin: "Worker | None" = None) -> None:
        """Append an MV update (see parallel.worker.apply_updates) for every worker;
        ``origin``, the worker that produced it (and already holds it), is skipped."""
        self.log.append((origin, update))

    def idle_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.idle]

    def submit(self, worker: Worker, tasks: list[int], chain: bool) -> None:
        if not tasks:
            raise ValueError("a request needs at least one task")
        updates = [u for origin, u in self.log[worker.synced:] if origin is not worker]
        worker.synced = len(self.log)
        worker.tasks = list(tasks)
        if not self._send(worker, ("run", updates, tasks, chain)):
            self._orphaned.extend(tasks)  # it died while idle: report them on collect

    def collect(self, timeout: float | None = 0) -> tuple[list, list[int]]:
        """(outcome, worker) pairs that arrived within ``timeout`` (None: wait for at
        least one), and the tasks of workers that died (to be executed elsewhere)."""
        orphaned, self._orphaned = self._orphaned, []
        busy = {w.conn: w for w in self.workers if not w.idle}
        if not busy:
            return [], orphaned
        if orphaned:
            timeout = 0  # the caller has work to redo at once
        outcomes = []
        for conn in wait(list(busy), timeout):
            worker = busy[conn]
            try:
                reply = conn.recv()
            except (EOFError, OSError):
                orphaned.extend(worker.tasks)
                self._replace(worker)
                continue
            worker.tasks = []
            outcomes.extend((outcome, worker) for outcome in reply[1])
        return outcomes, orphaned

    def _send(self, worker: Worker, msg) -> bool:
        """Send, or replace a worker found dead; returns whether it was sent."""
        try:
            worker.conn.send(msg)
            return True
        except OSError:
            self._replace(worker)
            return False

    def _replace(self, worker: Worker) -> None:
        """Swap a dead worker for a fresh one holding the current base and block."""
        if worker not in self.workers:
            return  # already replaced
        try:
            worker.conn.close()
        except OSError:
            pass
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=1)
        index = self.workers.index(worker)
        self.replaced += 1
        self.workers[index] = self._spawn()


_POOL: WorkerPool | None = None


def get_pool(processes: int) -> WorkerPool:
    """The process-wide pool, resized to ``processes`` worker processes."""
    global _POOL
    if _POOL is None:
        _POOL = WorkerPool()
        atexit.register(_POOL.shutdown)
    _POOL.resize(processes)
    return _POOL
