"""The loop a worker process runs: keep a replica of the block's state, execute
the transactions it is sent, and send back compact results.

Messages from the coordinator (tuples):
    ("base", bytes)                 a new pre-state (pickled MemoryState)
    ("advance", diff, new_code)     the pre-state moved on by one block's diff
    ("block", bytes|None, writes, code)
                                    a new block without its transactions
                                    (pickled Block, or None: same as before)
                                    and its pre-block system writes
    ("run", seq, updates, txs, tasks, chain)
                                    apply MV updates, add ``txs`` (index ->
                                    transaction: each is sent once, with its
                                    first task), then execute ``tasks`` (tx
                                    indices) each on the MV view below it; with
                                    ``chain`` each result is also recorded
                                    locally, so later tasks of the chunk see it
    ("cancel", seq)                 stop every run up to number ``seq``: the one
                                    at hand after its current task (checked
                                    between tasks), queued ones at once
    ("stop",)
Each run gets one reply, in order: ("results", [outcome, ...]), one outcome per
task done: ("done", j, TxResult) | ("blocked", j, writer) | ("invalid", j, reason)
| ("error", j, text). Runs may queue up: the coordinator sends the next chunk
before the current one is done, so a worker never waits for work.
"""

from __future__ import annotations

import pickle
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


def run_tasks(env: BlockEnv, txs, mv: MVMemory, tasks, chain: bool, should_stop=None) -> list:
    """Execute ``tasks`` speculatively, in order (senders' nonces predicted, see
    execute_transaction); ``txs[j]`` is transaction j. Stop early (returning what
    is done) when ``should_stop()`` says the coordinator no longer needs the rest."""
    outcomes = []
    for j in tasks:
        if should_stop is not None and outcomes and should_stop():
            break
        try:
            result = execute_transaction(env, mv.view(j), txs[j], j, predict=True)
        except ReadEstimate as exc:
            outcomes.append(("blocked", j, exc.blocking))
            continue
        except InvalidTransaction as exc:
            outcomes.append(("invalid", j, str(exc)))
            continue
        except Exception:  # reported, and the coordinator re-executes it exactly
            outcomes.append(("error", j, traceback.format_exc(limit=3)))
            continue
        if chain:
            mv.record(j, result.writes, result.new_code)
        outcomes.append(("done", j, result))
    return outcomes


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

    def handle(self, msg, should_stop=None):
        op = msg[0]
        if op == "run":
            _, _seq, updates, txs, tasks, chain = msg
            apply_updates(self.mv, updates)
            self.txs.update(txs)
            outcomes = run_tasks(self.env, self.txs, self.mv, tasks, chain, should_stop)
            return ("results", [
                (kind, j, encode_result(x)) if kind == "done" else (kind, j, x)
                for kind, j, x in outcomes
            ])
        if op == "block":
            if msg[1] is not None:
                self.block = pickle.loads(msg[1])
                self.env = BlockEnv.for_block(self.block)
            self.txs = {}
            start = OverlayState(self.base)
            start.apply(msg[2], msg[3])
            self.mv = MVMemory(start)
            return None
        if op == "base":
            self.base = pickle.loads(msg[1])
            return None
        if op == "advance":
            self.base.apply(msg[1], msg[2])
            return None
        raise ValueError(f"unknown message {op!r}")


def worker_main(conn) -> None:
    """Entry point of a worker process."""
    import gc

    gc.freeze()  # inherited pages stay shared: no full-GC pass over them
    state = WorkerState()
    queued: deque = deque()  # messages read early, while checking for a cancel
    cancelled = -1  # runs numbered up to this one are cancelled

    def receive():
        nonlocal cancelled
        msg = conn.recv()
        if msg[0] == "cancel":
            cancelled = max(cancelled, msg[1])
            return None
        return msg

    def read_ahead():
        while conn.poll():
            msg = receive()
            if msg is not None:
                queued.append(msg)

    while True:
        try:
            msg = queued.popleft() if queued else receive()
        except (EOFError, OSError):
            return
        if msg is None:
            continue
        if msg[0] == "stop":
            return
        if msg[0] == "run":
            seq = msg[1]
            if seq <= cancelled:
                conn.send(("results", []))
                continue

            def should_stop(seq=seq):
                read_ahead()
                return seq <= cancelled

            conn.send(state.handle(msg, should_stop))
            continue
        state.handle(msg)
