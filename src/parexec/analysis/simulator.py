"""Discrete-event simulation of each strategy's schedule on N virtual workers.

What 8, 32 or 64 cores would buy, from what one core measured: each
transaction's serial time and real footprint (analysis.block_profile), and the
engine's overheads on this machine (``Overheads``, see analysis.calibration).
Process 0 is the coordinator, as in the real engine: it commits every result in
block order (``commit`` seconds each: validation, applying writes, the receipt,
handing the task out and taking the result in) and executes transactions when
it has nothing to commit. A result executed on a worker reaches the coordinator
``ipc`` seconds after it finishes; what the coordinator knows reaches a worker
as late (occ) or with its next chunk (the others).

Each strategy is modelled by replaying its engine's own loop on virtual time:

* ``block-stm``, ``dag``, ``slot-locks``, ``account-locks`` share one engine
  (strategies/block_stm.MVRun) and one model (``_MVRunModel``): chunks of ready
  transactions, cut and queued by the engine's own chunk policy, go to workers;
  a chunk sees the multi-version memory as it was when sent, so a transaction
  whose true dependencies had no valid entry yet runs stale (or blocks on an
  ESTIMATE) and is redone, as the engine would; the coordinator takes results
  in only between its own executions. The declared-access strategies gate each
  transaction on its declared dependencies (exact access lists) and order ready
  ones by their priority; block-stm goes lowest index first.
* ``occ``: workers take chunks from the back and run them from the top down on
  committed state; the coordinator works from the front, executing what no
  worker has begun; a speculative result whose dependencies were committed too
  late for it to see is re-executed by the coordinator at commit.

Times are execution times scaled by ``1 + contention`` (processes sharing a
machine run slower than one alone). The simulation ignores what no footprint
shows (memory bandwidth, the GIL's absence in processes, uneven cores).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

from parexec.access.dependencies import dependencies
from parexec.analysis.block_profile import BlockProfile
from parexec.strategies import DECLARED, STRATEGIES
from parexec.strategies.base import MIN_PARALLEL_TXS
from parexec.parallel.chunks import DECLARED_CHUNKS, SPECULATIVE_CHUNKS, ChunkPolicy, chunk_size, next_chunk, take_ready
from parexec.strategies.block_stm import MAX_INCARNATIONS, gives_up

INF = math.inf
# a transaction's status in the MVRun model (as in strategies/block_stm.py), and its
# entry in the coordinator's multi-version memory
_READY, _RUNNING, _DONE, _BLOCKED, _EXACT, _WAITING, _COMMITTED = range(7)
_NONE, _ESTIMATE, _STALE, _VALID = range(4)
BLOCKED_SHARE = 0.5  # of a run that meets an ESTIMATE: where in it the read comes is not known


@dataclass(frozen=True)
class Overheads:
    commit: float = 0.0  # coordinator seconds per transaction
    ipc: float = 0.0  # seconds from a worker's result to the coordinator (and back)
    start: float = 0.0  # seconds per block before parallel execution begins
    contention: float = 0.0  # execution slows by this share when processes run side by side


OPTIMISTIC = ("occ", "block-stm")
SIMULATED = ("serial", *OPTIMISTIC, *DECLARED)


def simulate(profile: BlockProfile, strategy: str, workers: int, overheads: Overheads) -> float:
    """The predicted speedup of ``strategy`` with ``workers`` processes over serial."""
    if strategy not in SIMULATED:
        raise ValueError(f"cannot simulate {strategy!r}; choose from {', '.join(SIMULATED)}")
    seconds = [t.seconds for t in profile.txs]
    serial = profile.block_seconds
    rest = max(0.0, serial - sum(seconds))  # block work outside transactions: the same for all
    if strategy == "serial" or workers <= 1 or len(seconds) < MIN_PARALLEL_TXS:
        return 1.0  # as the engine: small blocks run serially
    slow = [t * (1 + overheads.contention) for t in seconds]
    footprints = [t.footprint for t in profile.txs]
    # what an optimistic run must see to be valid: true dependencies, nonces predicted
    true_deps = dependencies(footprints, "slot", "reads", predict_nonces=True)
    if strategy == "occ":
        makespan = _occ(slow, true_deps, workers, overheads)
    else:
        n = len(seconds)
        declared, priority, policy = [set()] * n, None, SPECULATIVE_CHUNKS
        if strategy in DECLARED:  # the engine's own dependencies and priority (exact lists)
            declared, priority = STRATEGIES[strategy].schedule(footprints, [t.gas for t in profile.txs])
            policy = DECLARED_CHUNKS
        gas_limits = [t.gas_limit or t.gas for t in profile.txs]
        makespan = _MVRunModel(slow, gas_limits, true_deps, declared, priority or list(range(n)), workers,
                               overheads, policy).run()
    return serial / (rest + overheads.start + makespan)


def _occ(t: Sequence[float], deps: Sequence[set[int]], workers: int, oh: Overheads) -> float:
    """Workers take chunks from the back and run them from the top down on committed
    state; the coordinator commits from the front, executing what no worker has
    begun and redoing a result that could not see a dependency's commit."""
    n = len(t)
    began = [INF] * n
    arrives = [INF] * n  # a worker's result at the coordinator
    committed = [INF] * n
    clock = [0.0] * workers
    queue: list[list[int]] = [[] for _ in range(workers)]
    back, now = n, 0.0
    for front in range(n):
        for w in range(1, workers):  # each worker runs on until the coordinator's clock
            while clock[w] <= now:
                if not queue[w]:
                    size = min(64, math.ceil((back - front) / (2 * workers)))
                    if size < 1 or back - front - size < size:
                        break  # what is left is the coordinator's
                    queue[w] = list(range(back - 1, back - size - 1, -1))
                    back -= size
                j = queue[w].pop(0)
                if j < front:
                    continue  # the coordinator took it
                began[j] = clock[w]
                clock[w] += t[j]
                arrives[j] = clock[w] + oh.ipc
        j = front
        if began[j] <= now:  # a worker has begun it: wait for the result
            now = max(now, arrives[j])
            if any(committed[i] + oh.ipc > began[j] for i in deps[j]):
                now += t[j]  # it could not see a dependency: redone at commit
        else:
            now += t[j]  # nobody began it: the coordinator executes it exactly
        now += oh.commit
        committed[j] = now
    return now


class _MVRunModel:
    """The engine's loop (strategies/block_stm.MVRun) on virtual time: the
    coordinator dispatches chunks of ready transactions to workers that hold
    fewer than the policy's queue, takes in the results that have arrived, commits
    the front (executing it exactly if it has no valid result, one at a time),
    and while a worker holds the front executes one ready transaction itself.

    A worker's chunk sees the coordinator's multi-version memory as it was when
    the chunk was sent, plus its own earlier results. An execution is valid when
    every transaction it truly depends on had a valid entry in that view;
    one that meets an ESTIMATE (an aborted entry) is blocked until the writer
    finishes; otherwise it is stale and aborted once the entry it missed becomes
    valid (eager re-validation), or redone exactly at the front."""

    def __init__(self, t, gas, true_deps, declared_deps, priority, workers: int, oh: Overheads,
                 policy: ChunkPolicy):
        n = self.n = len(t)
        self.t, self.gas, self.deps, self.priority, self.oh = t, gas, true_deps, priority, oh
        self.pending = [set(d) for d in declared_deps]
        self.successors: list[list[int]] = [[] for _ in range(n)]
        for j, preds in enumerate(self.pending):
            for i in preds:
                self.successors[i].append(j)
        self.status = [_WAITING if self.pending[j] else _READY for j in range(n)]
        self.entry = [_NONE] * n  # what j's entry in the coordinator's MV memory is
        self.incarnation = [0] * n
        self.stale_readers: dict[int, set[int]] = {}  # i -> stale results that missed i's valid entry
        self.blocked_on: dict[int, list[int]] = {}
        self.ready = [(priority[j], j) for j in range(n) if self.status[j] == _READY]
        heapq.heapify(self.ready)
        self.chunk, self.policy = chunk_size(n, workers), policy
        self.queues = [[] for _ in range(workers - 1)]  # per worker: (arrival, outcomes) of its chunks
        self.worker_free = [0.0] * (workers - 1)
        self.local: list[dict[int, int]] = [{} for _ in range(workers - 1)]  # a worker's own entries
        self.front = 0
        self.aborts = self.accepted = 0
        self.storm = False

    def run(self) -> float:
        now = 0.0
        while self.front < self.n:
            self._dispatch(now)
            self._collect(now)
            now = self._commit_front(now)
            if self.front >= self.n:
                break
            if self.status[self.front] == _RUNNING:
                tasks = [] if self.storm else take_ready(self.ready, self._is_ready, self.gas.__getitem__, 1)
                if tasks:  # the coordinator executes one itself, on the authoritative memory
                    _, j = tasks[0]
                    self.status[j] = _RUNNING
                    outcome = self._outcome(j, self.entry.__getitem__)
                    now += self.t[j] * (BLOCKED_SHARE if outcome[1] == "blocked" else 1)
                    self._handle(j, self.incarnation[j], *outcome[1:])
                else:  # wait for the next chunk
                    now = max(now, min(q[0][0] for q in self.queues if q))
        return now

    # ---------------------------------------------------------------- dispatch
    def _is_ready(self, j: int) -> bool:
        return j > self.front and self.status[j] == _READY

    def _dispatch(self, now: float) -> None:
        if self.storm:
            return
        idle = [w for w in range(len(self.queues)) if len(self.queues[w]) < self.policy.queued]
        for k, w in enumerate(idle):
            tasks = next_chunk(self.ready, self._is_ready, self.gas.__getitem__, self.chunk, self.policy,
                               sharers=len(idle) - k + 1)
            if not tasks:
                return
            self._send(w, tasks, now)

    def _send(self, w: int, tasks: list[int], now: float) -> None:
        """The chunk's outcomes, decided by the view it is sent with."""
        local = self.local[w]
        view = lambda i: self.entry[i] if self.entry[i] != _NONE else local.get(i, _NONE)  # noqa: E731
        clock = max(self.worker_free[w], now)
        outcomes = []
        for j in tasks:
            self.status[j] = _RUNNING
            outcome = self._outcome(j, view)
            if outcome[1] == "blocked":
                clock += self.t[j] * BLOCKED_SHARE
            else:
                clock += self.t[j]
                local[j] = _STALE if outcome[2] else _VALID
            outcomes.append((j, self.incarnation[j], *outcome[1:]))
        self.worker_free[w] = clock
        self.queues[w].append((clock + self.oh.ipc, outcomes))

    def _outcome(self, j: int, view) -> tuple:
        """(j, "blocked", the writer) or (j, "done", the entries it missed)."""
        missed = []
        for i in sorted(self.deps[j]):
            seen = view(i)
            if seen == _ESTIMATE:
                return (j, "blocked", i)
            if seen != _VALID:
                missed.append(i)
        return (j, "done", missed)

    # ---------------------------------------------------------------- results
    def _collect(self, now: float) -> None:
        for queue in self.queues:
            while queue and queue[0][0] <= now:
                _, outcomes = queue.pop(0)
                for outcome in outcomes:
                    self._handle(*outcome)

    def _handle(self, j: int, incarnation: int, kind: str, info) -> None:
        if self.status[j] != _RUNNING or self.incarnation[j] != incarnation:
            return  # stale: aborted or committed meanwhile
        if kind == "blocked":
            if self.entry[info] in (_VALID, _STALE):
                self._make_ready(j)
            else:
                self.status[j] = _BLOCKED
                self.blocked_on.setdefault(info, []).append(j)
            return
        self.status[j] = _DONE
        self._set_entry(j, _STALE if info else _VALID)
        if any(self.entry[i] == _VALID for i in info):  # its replica lagged behind
            self._abort(j)
        else:
            for i in info:
                self.stale_readers.setdefault(i, set()).add(j)
        self._finished(j)

    def _set_entry(self, j: int, entry: int) -> None:
        self.entry[j] = entry
        if entry == _VALID:
            for k in sorted(self.stale_readers.pop(j, ())):
                self._abort(k)

    def _finished(self, j: int) -> None:
        for k in self.blocked_on.pop(j, ()):
            if self.status[k] == _BLOCKED:
                self._make_ready(k)
        for k in self.successors[j]:
            if j in self.pending[k]:
                self.pending[k].discard(j)
                if not self.pending[k] and self.status[k] == _WAITING:
                    self._make_ready(k)

    def _abort(self, k: int) -> None:
        if self.status[k] != _DONE:
            return
        self.aborts += 1
        self.incarnation[k] += 1
        self.entry[k] = _ESTIMATE
        if gives_up(self.aborts, self.accepted, self.n):
            self.storm = True  # the front finishes alone
            for j in range(self.n):
                if self.status[j] == _RUNNING:
                    self.status[j] = _EXACT
            for queue in self.queues:
                queue.clear()
        if self.incarnation[k] >= MAX_INCARNATIONS:
            self.status[k] = _EXACT  # left for the front
        else:
            self._make_ready(k)

    def _make_ready(self, j: int) -> None:
        self.status[j] = _READY
        heapq.heappush(self.ready, (self.priority[j], j))

    # ---------------------------------------------------------------- commit
    def _commit_front(self, now: float) -> float:
        while self.front < self.n:
            j = self.front
            if self.status[j] == _RUNNING:
                return now
            exact = not (self.status[j] == _DONE and self.entry[j] == _VALID)
            now += self.oh.commit + (self.t[j] if exact else 0.0)
            self.accepted += not exact
            self.status[j] = _COMMITTED
            self._set_entry(j, _VALID)
            self._finished(j)
            self.front += 1
            if exact:
                return now
        return now
