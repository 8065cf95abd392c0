"""The loop a worker process runs: keep a replica of the block's state, execute
the transactions it is sent, and send back compact results. The messages are
those of ``parallel.protocol``."""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
import traceback
from collections import deque

from parexec.access.eip7928 import InvalidAccessList
from parexec.access.eip7928_check import Accessed, ListCheck
from parexec.block.env import BlockEnv
from parexec.block.receipts import receipt_leaves
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.parallel import run_trace
from parexec.parallel.list_memory import ListMemory
from parexec.parallel.mv_memory import MVMemory, ReadEstimate
from parexec.parallel.protocol import (
    ACCESSED,
    ADVANCE,
    BASE,
    BLOCK,
    BLOCKED,
    CLAIM,
    DONE,
    ERROR,
    ESTIMATE,
    IDLE,
    INVALID,
    PARTIAL,
    PING,
    RECEIPTS,
    RESULTS,
    RUN,
    STOP,
    WRITE,
    Outcome,
    encode_result,
)
from parexec.state.overlay import OverlayState


def apply_updates(mv: MVMemory, updates) -> None:
    """Apply multi-version memory updates (WRITE, ESTIMATE) in order."""
    for update in updates:
        if update[0] == WRITE:
            mv.record(update[1], update[2], update[3])
        elif update[0] == ESTIMATE:
            mv.mark_estimate(update[1])
        else:
            raise ValueError(f"unknown memory update {update[0]!r}")


def run_tasks(env: BlockEnv, txs, mv: MVMemory, tasks, chain: bool) -> list[Outcome]:
    """Execute ``tasks`` speculatively here, in the coordinator (see iter_tasks)."""
    trace = run_trace.active()
    if trace is None:
        return [Outcome(kind, j, value) for kind, j, value in iter_tasks(env, txs, mv, tasks, chain)]
    outcomes = []
    for kind, j, value, start, end in iter_tasks(env, txs, mv, tasks, chain, timed=True):
        outcomes.append(Outcome(kind, j, value))
        trace.span(run_trace.COORDINATOR, j, start, end, kind, value)
    return outcomes


def iter_tasks(env: BlockEnv, txs, mv: MVMemory, tasks, chain: bool, skip=None, timed=False,
               log_ops=frozenset()):
    """Execute ``tasks`` speculatively, in order (senders' nonces predicted, see
    execute_transaction), yielding each outcome as (kind, j, value); ``txs[j]``
    is transaction j. A task for which ``skip(j)`` is true by the time it is due
    is left out. ``timed``: each outcome also carries when its execution began
    and ended (time.monotonic), for a run trace. The executions of the
    transactions in ``log_ops`` log what they compute from storage (evm.op_log)."""
    for j in tasks:
        if skip is not None and skip(j):
            continue
        start = time.monotonic() if timed else 0.0
        try:
            result = execute_transaction(env, mv.view(j), txs[j], j, predict=True, log_ops=j in log_ops)
        except ReadEstimate as exc:
            outcome = (BLOCKED, j, exc.blocking)
        except InvalidTransaction as exc:
            outcome = (INVALID, j, str(exc))
        except Exception:  # reported, and the coordinator re-executes it exactly
            outcome = (ERROR, j, traceback.format_exc(limit=3))
        else:
            if chain:
                mv.record(j, result.writes, result.new_code)
            outcome = (DONE, j, result)
        yield (outcome + (start, time.monotonic())) if timed else outcome


class WorkerState:
    """What a worker keeps between messages: the base state (BASE, ADVANCE), and
    the block it is on with what it has done of it (BLOCK, RUN), until IDLE."""

    def __init__(self):
        self.base = None  # MemoryState
        self.block = None  # without transactions
        self.env: BlockEnv | None = None
        self.traced = False  # outcomes carry their start and end (a run trace is recorded)
        self.log_ops = frozenset()  # the transactions whose executions log operations
        self.end_block()

    def end_block(self) -> None:
        """Let go of the block's memory (the next BLOCK brings a new one)."""
        self.txs: dict = {}  # index -> transaction, as they arrive
        self.mv: MVMemory | None = None
        self.list_check = None  # the block's EIP-7928 list, if it came with one
        # per transaction held to the list here and sent without its reads: (reads, writes), for ACCESSED
        self.held: dict[int, tuple] = {}
        self.fresh = Accessed()  # what they accessed since the last reply (see accessed_since)
        self.sent: tuple[set, set] = (set(), set())  # the accounts and slots replies have carried

    def start_run(self, msg, skip):
        """The outcomes of a RUN message, as they are computed, ready to send."""
        _, updates, txs, tasks, chain = msg
        apply_updates(self.mv, updates)
        self.txs.update(txs)
        for outcome in iter_tasks(self.env, self.txs, self.mv, tasks, chain, skip, self.traced, self.log_ops):
            if outcome[0] == DONE:
                result = outcome[2]
                if self.list_check is not None and not self.traced:  # (a traced run keeps the reads:
                    self.hold(outcome[1], result)  # parexec explain shows what each execution read)
                if result.op_log is not None:  # the coordinator reads it only to repair a stale result
                    result.op_log = pickle.dumps(result.op_log, protocol=pickle.HIGHEST_PROTOCOL)
                outcome = (DONE, outcome[1], encode_result(result)) + outcome[3:]
            yield outcome

    def hold(self, j: int, result) -> None:
        """Hold transaction j's ``result`` to the block's list here. Where it
        agrees, its reads need not travel: they stay here with its writes (for
        ACCESSED), the accounts and slots they name go with the next reply, once
        (accessed_since), and it goes with the count of the list's changes it
        accounts for instead. The result is changed in
        place (a copy cost 3 us a transaction)."""
        accounted = self.list_check.accounted_here(j, result)
        if accounted is not None:
            self.held[j] = (result.reads, result.writes)
            self.fresh.add(result.reads)
            self.fresh.add(result.writes)
            result.reads, result.list_changes = None, accounted

    def accessed_since(self) -> tuple[set, set] | None:
        """The accounts and slots the results held since the last reply accessed,
        none sent before (for the reply about to go; None: nothing new)."""
        if not self.fresh.locations:
            return None
        addresses, slots = self.fresh.units()
        addresses -= self.sent[0]
        slots -= self.sent[1]
        self.sent[0].update(addresses)
        self.sent[1].update(slots)
        self.fresh = Accessed()
        return addresses, slots

    def accessed(self, txs) -> tuple[set, set]:
        """The accounts and slots the executions of ``txs`` held here accessed
        (KeyError for one that was not): those the replies carried where they
        are all that was held here, else gathered now."""
        if len(txs) == len(self.held) and self.held.keys() == set(txs):
            self.accessed_since()
            return self.sent
        accessed = Accessed()
        for j in txs:
            reads, writes = self.held[j]
            accessed.add(reads)
            accessed.add(writes)
        return accessed.units()

    def handle(self, msg) -> None:
        """A BLOCK, BASE or ADVANCE message."""
        op = msg[0]
        if op == BLOCK:
            if msg[1] is not None:
                self.block = pickle.loads(msg[1])
                self.env = BlockEnv.for_block(self.block)
            self.end_block()
            self.traced = msg[4]
            self.log_ops = msg[6] or frozenset()
            start = OverlayState(self.base)
            start.apply(msg[2], msg[3])
            self.mv = MVMemory(start)
            if msg[5] is not None:
                encoded, txs = msg[5]
                try:
                    self.mv = ListMemory(start, encoded, txs)
                    self.list_check = ListCheck(self.mv)
                except InvalidAccessList:
                    pass  # the coordinator, indexing the same bytes at its first step, rejects
                    # the block before it takes any result in (the tasks sent with the block
                    # run here without the list, for nothing); an account found malformed when
                    # entered fails its transaction here, and the coordinator, entering the
                    # whole list, rejects the block
        elif op == BASE:
            self.base = pickle.loads(msg[1])
        elif op == ADVANCE:
            self.base.apply(msg[1], msg[2])
        else:
            raise ValueError(f"unknown message {op!r}")


def worker_main(conn, running) -> None:
    """Entry point of a worker process; ``running`` (shared memory) shows the
    coordinator which tx it is executing. Out of memory, it says so in a line
    and ends: the coordinator finds its pipe closed, replaces it, and has its
    tasks executed elsewhere (a traceback would only look like a bug)."""
    import sys

    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # it died before the line above
        return
    try:
        serve(conn, running)
    except MemoryError:
        sys.stderr.write(f"parexec worker {os.getpid()}: out of memory; it ends and is replaced\n")


def _die_with_parent() -> None:
    """Have Linux kill this process when its parent dies (PR_SET_PDEATHSIG). A
    worker inherits every descriptor its coordinator had, its own pipe's other
    end among them, so it would never see that pipe close: it would outlive a
    coordinator killed outright, and keep open what that one held (a Ray
    worker's sockets, so Ray never saw its task's process end). Linux ties this to
    the thread that started the worker: pools are started from the main thread."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: such a worker ends at its next message
        pass


def _answer(conn, op, answer) -> bool:
    """Send the coordinator's question ``op`` its answer, ``(op, *answer())``, or
    ERROR if that fails (the coordinator then finds it itself); False if the
    pipe is gone."""
    try:
        reply = (op, *answer())
    except Exception:
        reply = (ERROR, traceback.format_exc(limit=3))
    try:
        conn.send(reply)
    except (EOFError, OSError):
        return False
    return True


def serve(conn, running) -> None:
    """The worker's loop: messages in, results out, until STOP or a closed pipe."""
    import gc

    gc.freeze()  # inherited pages stay shared: no full-GC pass over them
    gc.disable()  # no collection in the middle of a run: one per block instead, once its work is over
    state = WorkerState()
    queued: deque = deque()  # messages read early, while checking for claims
    claimed = -1  # txs up to this one are the coordinator's (reset per block)
    claimed_one: set[int] = set()  # and these (reset per block)

    def receive():
        nonlocal claimed
        msg = conn.recv()
        if msg[0] == CLAIM:
            if msg[2]:
                claimed_one.update(msg[1])
            else:
                claimed = max(claimed, msg[1])
            return None
        if msg[0] == BLOCK and msg[5] is not None:  # its EIP-7928 list follows, unpickled
            msg = msg[:5] + ((conn.recv_bytes(), msg[5]),) + msg[6:]
        return msg

    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)

    def skip(j: int) -> bool:
        while poller.poll(0):
            msg = receive()
            if msg is not None:
                queued.append(msg)
        if j <= claimed or j in claimed_one:
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
        if op == STOP:
            return
        if op == PING:
            conn.send((PING,))
            continue
        if op == RECEIPTS:
            if not _answer(conn, RECEIPTS, lambda: (receipt_leaves(msg[1], msg[2], msg[3]),)):
                return
            continue
        if op == ACCESSED:
            if not _answer(conn, ACCESSED, lambda: state.accessed(msg[1])):
                return
            continue
        if op == IDLE:  # the block's work is over: its memory and garbage go now, not
            state.end_block()  # when the next block is waited for
            gc.collect()
            continue
        if op != RUN:
            if op == BLOCK:
                claimed = -1
                claimed_one.clear()
            state.handle(msg)
            continue
        lowest = min(msg[3])
        outcomes = []
        try:
            for outcome in state.start_run(msg, skip):
                outcomes.append(outcome)
                if claimed >= lowest or (claimed_one and not claimed_one.isdisjoint(msg[3])):
                    # the coordinator's front is in this run: every result counts now
                    conn.send((PARTIAL, outcomes, state.accessed_since()))
                    outcomes = []
            conn.send((RESULTS, outcomes, state.accessed_since()))
        except (EOFError, OSError):  # the coordinator is gone
            return
