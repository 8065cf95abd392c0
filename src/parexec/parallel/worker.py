"""The loop a worker process runs: keep a replica of the block's state, execute
the transactions it is sent, and send back compact results.

Messages from the coordinator (tuples):
    ("base", bytes)                 a new pre-state (pickled MemoryState)
    ("advance", diff, new_code)     the pre-state moved on by one block's diff
    ("block", bytes|None, writes, code)
                                    a new block without its transactions
                                    (pickled Block, or None: same as before)
                                    and its pre-block system writes
    ("run", updates, txs, tasks, chain)
                                    apply MV updates, add ``txs`` (index ->
                                    transaction: each is sent once, with its
                                    first task), then execute ``tasks`` (tx
                                    indices, in the order given) each on the MV
                                    view below it; with ``chain`` each result is
                                    also recorded locally, so later tasks of the
                                    run see it
    ("claim", k)                    the coordinator executes every tx up to
                                    ``k`` itself: skip them (checked between
                                    tasks, in this run and queued ones), and send
                                    each further result at once
    ("stop",)
Replies, per run: any number of ("partial", [outcome, ...]) and then one
("results", [outcome, ...]); an outcome is ("done", j, encoded TxResult) |
("blocked", j, writer) | ("invalid", j, reason) | ("error", j, text). Runs may
queue up: the coordinator sends the next chunk before the current one is done,
so a worker never waits for work.
"""

from __future__ import annotations

import pickle
import select
import traceback
from collections import deque

from parexec.block.env import BlockEnv
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.model import Log, TxResult
from parexec.parallel.mv_memory import MVMemory, ReadEstimate
from parexec.state.overlay import OverlayState


def apply_updates(mv: MVMemory, updates) -> None:
    """MV memory messages: ("w", j, writes, code) | ("e", j) estimate | ("r", j) remove."""
    for update in updates:
        op = update[0]
        if op == "w":
            mv.record(update[1], update[2], update[3])
        elif op == "e":
            mv.mark_estimate(update[1])
        else:
            mv.remove(update[1])


def run_tasks(env: BlockEnv, txs, mv: MVMemory, tasks, chain: bool) -> list:
    """Execute ``tasks`` speculatively (see iter_tasks) and return their outcomes."""
    return list(iter_tasks(env, txs, mv, tasks, chain))


def iter_tasks(env: BlockEnv, txs, mv: MVMemory, tasks, chain: bool, skip=None):
    """Execute ``tasks`` speculatively, in order (senders' nonces predicted, see
    execute_transaction), yielding each outcome; ``txs[j]`` is transaction j.
    A task for which ``skip(j)`` is true by the time it is due is left out."""
    for j in tasks:
        if skip is not None and skip(j):
            continue
        try:
            result = execute_transaction(env, mv.view(j), txs[j], j, predict=True)
        except ReadEstimate as exc:
            yield ("blocked", j, exc.blocking)
            continue
        except InvalidTransaction as exc:
            yield ("invalid", j, str(exc))
            continue
        except Exception:  # reported, and the coordinator re-executes it exactly
            yield ("error", j, traceback.format_exc(limit=3))
            continue
        if chain:
            mv.record(j, result.writes, result.new_code)
        yield ("done", j, result)


def encode_result(result: TxResult) -> tuple:
    """A TxResult as plain tuples: about half the pickling cost of the dataclasses."""
    logs = tuple((log.address, log.topics, log.data) for log in result.logs)
    return tuple(logs if name == "logs" else getattr(result, name) for name in RESULT_FIELDS)


def decode_result(fields: tuple) -> TxResult:
    result = TxResult(*fields)
    result.logs = tuple(Log(*log) for log in result.logs)
    return result


RESULT_FIELDS = tuple(TxResult.__dataclass_fields__)


class WorkerState:
    def __init__(self):
        self.base = None  # MemoryState
        self.block = None  # without transactions
        self.txs: dict = {}  # index -> transaction, as they arrive
        self.env: BlockEnv | None = None
        self.mv: MVMemory | None = None

    def start_run(self, msg, skip):
        """The outcomes of a ("run", ...) message, as they are computed."""
        _, updates, txs, tasks, chain = msg
        apply_updates(self.mv, updates)
        self.txs.update(txs)
        for kind, j, x in iter_tasks(self.env, self.txs, self.mv, tasks, chain, skip):
            yield (kind, j, encode_result(x)) if kind == "done" else (kind, j, x)

    def handle(self, msg) -> None:
        op = msg[0]
        if op == "block":
            if msg[1] is not None:
                self.block = pickle.loads(msg[1])
                self.env = BlockEnv.for_block(self.block)
            self.txs = {}
            start = OverlayState(self.base)
            start.apply(msg[2], msg[3])
            self.mv = MVMemory(start)
        elif op == "base":
            self.base = pickle.loads(msg[1])
        elif op == "advance":
            self.base.apply(msg[1], msg[2])
        else:
            raise ValueError(f"unknown message {op!r}")


def worker_main(conn, running) -> None:
    """Entry point of a worker process; ``running`` (shared memory) shows the
    coordinator which tx it is executing."""
    import gc

    gc.freeze()  # inherited pages stay shared: no full-GC pass over them
    gc.disable()  # no collection in the middle of a run: one per block instead
    state = WorkerState()
    queued: deque = deque()  # messages read early, while checking for claims
    claimed = -1  # txs up to this one are the coordinator's (reset per block)

    def receive():
        nonlocal claimed
        msg = conn.recv()
        if msg[0] == "claim":
            claimed = max(claimed, msg[1])
            return None
        return msg

    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)

    def skip(j: int) -> bool:
        while poller.poll(0):
            msg = receive()
            if msg is not None:
                queued.append(msg)
        if j <= claimed:
            return True
        running.value = j
        return False

    while True:
        try:
            msg = queued.popleft() if queued else receive()
        except (EOFError, OSError):
            return
        if msg is None:
            continue
        op = msg[0]
        if op == "stop":
            return
        if op != "run":
            if op == "block":
                claimed = -1
                gc.collect()
            state.handle(msg)
            continue
        lowest = min(msg[3])
        outcomes = []
        try:
            for outcome in state.start_run(msg, skip):
                outcomes.append(outcome)
                if claimed >= lowest:  # the front is in this run: every result counts now
                    conn.send(("partial", outcomes))
                    outcomes = []
            conn.send(("results", outcomes))
        except (EOFError, OSError):  # the coordinator is gone
            return
