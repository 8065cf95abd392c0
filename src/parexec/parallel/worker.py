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
    ("stop",)
Replies: ("results", [outcome, ...]) with one outcome per task:
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


def run_tasks(env: BlockEnv, block, mv: MVMemory, tasks, chain: bool) -> list:
    outcomes = []
    for j in tasks:
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

    def handle(self, msg):
        op = msg[0]
        if op == "run":
            apply_updates(self.mv, msg[1])
            return ("results", run_tasks(self.env, self.block, self.mv, msg[2], msg[3]))
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
        reply = state.handle(msg)
        if reply is not None:
            conn.send(reply)
