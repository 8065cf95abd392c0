"""Which transactions of a multi-version run may execute, and what an abort does.

One ``Schedule`` per block run. The engine (parallel.mv_run.MVRun) and its
simulation (analysis.simulator) drive the same Schedule, so the two cannot
drift apart: they differ only in what an execution is (py-evm on a worker, or a
duration on a virtual clock). Its methods are the transitions of the state
machine below; each checks the state it starts from.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from enum import IntEnum

from parexec.parallel.chunks import ChunkPolicy, next_chunk, take_ready

MAX_INCARNATIONS = 3  # speculative executions of one transaction; then it is left for the front
CHAIN_MIN_ABORTS = 16  # aborts before the chain rule may hand the block to the front


class TxState(IntEnum):
    """Where one transaction of a multi-version run stands.

    ::

        WAITING ---release---> READY <-----------------------------------+
        (declared                |                                       |
         predecessors          start (a chunk goes to a worker,          |
         unfinished)             |    or the coordinator runs it)        |
                                 v                                       |
        SUSPENDED <--suspend-- EXECUTING --lose (its worker died)------->+
          |   (it read an        |                                       |
          |    ESTIMATE)       finish                                    |
          |                      v                                       |
          |                    EXECUTED --abort (a read no longer holds)->+
          |                      |
          |                      +--abort at MAX_INCARNATIONS--> FRONT
          +--release (the writer finished)--> READY

        EXECUTING --leave_for_front (invalid, error, undeclared; give up)--> FRONT
        any state but EXECUTING, once it is the lowest uncommitted --commit--> COMMITTED

    FRONT: left for the front, which executes it exactly on the committed
    state when its turn comes; it is never handed out again. An EXECUTED
    result is committed as it is if it is still valid then (the in-order
    commit checks every read), otherwise the front executes it exactly too.
    """

    WAITING = 0
    READY = 1
    EXECUTING = 2
    EXECUTED = 3
    SUSPENDED = 4
    FRONT = 5
    COMMITTED = 6


WAITING, READY, EXECUTING, EXECUTED, SUSPENDED, FRONT, COMMITTED = TxState


def gives_up(aborts: int, accepted: int, n: int) -> bool:
    """Whether speculation stops and the front finishes the block alone: a retry
    storm (more aborts than transactions), or a dependency chain (aborts outrun
    accepted results two to one)."""
    return aborts > n or (aborts >= CHAIN_MIN_ABORTS and aborts > 2 * accepted)


def successors_of(deps: Sequence[set[int]]) -> list[list[int]]:
    """For each transaction i, the later ones that depend on it, in order."""
    successors: list[list[int]] = [[] for _ in deps]
    for j, preds in enumerate(deps):
        for i in preds:
            successors[i].append(j)
    return successors


class Schedule:
    """The state machine of every transaction of one block, and who waits for whom.

    Each field and what it keeps true:

    * ``status[j]``: j's TxState.
    * ``incarnation[j]``: how often j was aborted; an execution handed out
      carries it, so a late outcome of an earlier one is recognised.
    * ``pending[j]``: j's declared predecessors that have not finished yet; j is
      WAITING exactly while it is non-empty and j has not started.
    * ``successors[i]``: the transactions that declared i as a predecessor.
    * ``priority[j]``: smaller runs first; block order when none is given.
    * ``ready``: a heap of (priority, j) holding every READY j above the front;
      entries no longer ready to hand out are dropped when they come to the top.
    * ``waiting[i]``: the SUSPENDED transactions that read an ESTIMATE of i; they
      become READY when i finishes.
    * ``front``: the lowest uncommitted transaction; all below it are COMMITTED.
    * ``aborts``, ``accepted``, ``blocked``: counts (accepted: speculative
      results committed as they were).
    * ``gave_up``: speculation stopped (the chain rule); from then on the front
      executes whatever is not EXECUTED, and nothing is handed out.
    """

    def __init__(self, n: int, deps: Sequence[set[int]] | None = None, priority: Sequence | None = None,
                 gas_limits: Sequence[int] | None = None):
        """``deps``: per transaction, the earlier ones it must wait for (none:
        nothing is declared); ``gas_limits``: what chunks are cut by (needed
        to hand out work)."""
        self.n = n
        self.gas_limits = gas_limits
        self.pending = [set(d) for d in deps] if deps is not None else [set() for _ in range(n)]
        self.successors = successors_of(self.pending)
        self.priority = priority if priority is not None else range(n)
        self.status = [WAITING if self.pending[j] else READY for j in range(n)]
        self.incarnation = [0] * n
        self.ready = [(self.priority[j], j) for j in range(n) if self.status[j] == READY]
        heapq.heapify(self.ready)
        self.waiting: dict[int, list[int]] = {}
        self.front = 0
        self.aborts = self.accepted = self.blocked = 0
        self.gave_up = False

    # ------------------------------------------------------------ hand-out
    def is_ready(self, j: int) -> bool:
        """Whether j may be handed out (the front's own transaction never is)."""
        return j > self.front and self.status[j] == READY

    def hand_out(self, idle: list, size: int, policy: ChunkPolicy):
        """(worker, tasks) for each of the ``idle`` workers in turn, while ready
        work lasts; the tasks are EXECUTING from then on."""
        if self.gave_up:
            return
        for k, worker in enumerate(idle):
            tasks = next_chunk(self.ready, self.is_ready, self.gas_limits.__getitem__, size, policy,
                               sharers=len(idle) - k + 1)
            if not tasks:
                return
            for j in tasks:
                self.start(j)
            yield worker, tasks

    def take_one(self) -> int | None:
        """The best ready transaction, now EXECUTING, for the coordinator to run
        while a worker holds the front (None: nothing, or speculation stopped)."""
        if self.gave_up:
            return None
        entries = take_ready(self.ready, self.is_ready, self.gas_limits.__getitem__, 1)
        if not entries:
            return None
        j = entries[0][1]
        self.start(j)
        return j

    def start(self, j: int) -> None:
        """j executes (its heap entry, if any, is dropped when it comes up)."""
        assert self.status[j] == READY, (j, self.status[j])
        self.status[j] = EXECUTING

    # ------------------------------------------------------------ outcomes
    def finish(self, j: int) -> None:
        """j's execution is back with a result."""
        assert self.status[j] == EXECUTING, (j, self.status[j])
        self.status[j] = EXECUTED

    def suspend(self, j: int, writer: int) -> None:
        """j's execution read an ESTIMATE of ``writer``: it runs again once the
        writer has finished (at once, if it has meanwhile)."""
        assert self.status[j] == EXECUTING, (j, self.status[j])
        self.blocked += 1
        if self.status[writer] in (EXECUTED, COMMITTED):
            self._make_ready(j)
        else:
            self.status[j] = SUSPENDED
            self.waiting.setdefault(writer, []).append(j)

    def lose(self, j: int) -> None:
        """j's worker died before it replied: hand j out again."""
        assert self.status[j] == EXECUTING, (j, self.status[j])
        self._make_ready(j)

    def leave_for_front(self, j: int) -> None:
        """j is executed exactly at its turn and never handed out again."""
        assert self.status[j] != COMMITTED, j
        self.status[j] = FRONT

    def abort(self, k: int) -> bool:
        """k's result no longer holds: its next incarnation is READY (FRONT at
        the cap). Returns True when this abort stops speculation (the chain
        rule): the caller releases its workers."""
        assert self.status[k] == EXECUTED, (k, self.status[k])
        self.aborts += 1
        self.incarnation[k] += 1
        stops = not self.gave_up and gives_up(self.aborts, self.accepted, self.n)
        if stops:
            self.give_up()
        if self.incarnation[k] >= MAX_INCARNATIONS:
            self.status[k] = FRONT
        else:
            self._make_ready(k)
        return stops

    def give_up(self) -> None:
        """Speculation stops: what is out on workers is left for the front (a
        released worker skips what it has not begun)."""
        self.gave_up = True
        for j in range(self.front, self.n):
            if self.status[j] == EXECUTING:
                self.status[j] = FRONT

    def release(self, j: int) -> None:
        """j has finished (an execution is back, or it is committed): what was
        blocked on it, and its successors that wait for nothing more, are READY."""
        for k in self.waiting.pop(j, ()):
            if self.status[k] == SUSPENDED:
                self._make_ready(k)
        for k in self.successors[j]:
            waits_for = self.pending[k]
            if j in waits_for:
                waits_for.discard(j)
                if not waits_for and self.status[k] == WAITING:
                    self._make_ready(k)

    def _make_ready(self, j: int) -> None:
        self.status[j] = READY
        heapq.heappush(self.ready, (self.priority[j], j))

    # ------------------------------------------------------------ commit
    def commit(self, j: int, accepted: bool) -> None:
        """The front commits j (``accepted``: its speculative result as it was)
        and moves on; j's waiters and successors are released."""
        assert j == self.front and self.status[j] != EXECUTING, (j, self.front, self.status[j])
        self.status[j] = COMMITTED
        self.accepted += accepted
        self.front = j + 1
        self.release(j)

    @property
    def done(self) -> bool:
        return self.front >= self.n

    # ------------------------------------------------------------ analysis
    def critical_path(self, weights: Sequence[float]) -> list[float]:
        """For each transaction, the heaviest chain of declared successors from it
        to the end of the block (its own weight included): what cannot finish
        sooner however many workers run."""
        remaining = list(weights)
        for i in range(self.n - 1, -1, -1):  # edges go forward: reverse topological order
            if self.successors[i]:
                remaining[i] = weights[i] + max(remaining[j] for j in self.successors[i])
        return remaining
