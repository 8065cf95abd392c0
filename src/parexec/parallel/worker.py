"""The loop a worker process runs: keep a replica of the block's state, execute
the transactions it is sent, and send back compact results.

Messages from the coordinator (tuples):
    ("base", bytes)                 a new pre-state (pickled MemoryState)
    ("advance", diff, new_code)     the pre-state moved on by one block's diff
    ("block", bytes|None, writes, code)
                                    a new block (pickled Block, or None: same as
                                    before) and its pre-block system writes
    ("run", updates, tasks, chain)  apply MV updates, then execute ``tasks`` (tx
                                    indices) each on the MV view below it; with
                                    ``chain`` each result is also recorded
                                    locally, so later tasks of the chunk see it
    ("cancel",)                     stop the current run after the task at hand
                                    (checked between tasks) and reply at once
    ("stop",)
Replies: ("results", [outcome, ...]) with one outcome per task done, in order:
    ("done", j, TxResult) | ("blocked", j, writer) | ("invalid", j, reason)
    | ("error", j, text)
"""

from __future__ import annotations

import pickle
import traceback

from parexec.block.env import BlockEnv
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
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


def run_tasks(env: BlockEnv, block, mv: MVMemory, tasks, chain: bool, should_stop=None) -> list:
    """Execute ``tasks`` in order; stop early (returning what is done) when
    ``should_stop()`` says the coordinator no longer needs the rest."""
    outcomes = []
    for j in tasks:
        if should_stop is not None and outcomes and should_stop():
            break
        try:
            result = execute_transaction(env, mv.view(j), block.transactions[j], j)
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


class WorkerState:
    def __init__(self):
        self.base = None  # MemoryState
        self.block = None
        self.env: BlockEnv | None = None
        self.mv: MVMemory | None = None

    def handle(self, msg, should_stop=None):
        op = msg[0]
        if op == "run":
            apply_updates(self.mv, msg[1])
            outcomes = run_tasks(self.env, self.block, self.mv, msg[2], msg[3], should_stop)
            return ("results", outcomes)
        if op == "cancel":  # arrived after the run it meant to cut short: nothing to do
            return None
        if op == "block":
            if msg[1] is not None:
                self.block = pickle.loads(msg[1])
                self.env = BlockEnv.for_block(self.block)
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
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        reply = state.handle(msg, should_stop=conn.poll)
        if reply is not None:
            conn.send(reply)
