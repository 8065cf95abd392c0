"""Discrete-event simulation of each strategy's schedule on N virtual workers.

What 8, 32 or 64 cores would buy, from what one core measured: each
transaction's serial time and real footprint (analysis.block_profile), and the
engine's overheads on this machine (``Overheads``, see analysis.calibration).
Process 0 is the coordinator, as in the real engine: it commits every result in
block order (``commit`` seconds each: validation, applying writes, the receipt,
handing the task out and taking the result in) and executes transactions when
it has nothing to commit. A result executed on a worker reaches the coordinator
``ipc`` seconds after it finishes, and a commit reaches the workers as late.

Each strategy is modelled by what decides its schedule:

* ``dag``, ``slot-locks``, ``account-locks``: list scheduling on the declared
  dependencies (exact access lists): a transaction starts once everything it
  waits for is visible; ready ones go by the strategy's priority.
* ``block-stm``: lowest index first; a first execution runs at once and is
  wasted if a transaction it reads from was not final and visible when it
  started; a re-execution waits for those (ESTIMATE markers).
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

from parexec.access.dependencies import critical_path, dependencies
from parexec.analysis.block_profile import BlockProfile
from parexec.strategies.base import MIN_PARALLEL_TXS

INF = math.inf


@dataclass(frozen=True)
class Overheads:
    commit: float = 0.0  # coordinator seconds per transaction
    ipc: float = 0.0  # seconds from a worker's result to the coordinator (and back)
    start: float = 0.0  # seconds per block before parallel execution begins
    contention: float = 0.0  # execution slows by this share when processes run side by side


# how each declared-access strategy derives its dependencies (as strategies/declared.py)
DECLARED = {
    "account-locks": ("account", "locks", False),
    "slot-locks": ("slot", "locks", False),
    "dag": ("slot", "data", True),
}
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
    if strategy in DECLARED:
        granularity, rule, predict_nonces = DECLARED[strategy]
        deps = dependencies(footprints, granularity, rule, predict_nonces)
        if strategy == "dag":  # the engine's priority: the work (by gas) waiting on a transaction
            gas = [t.gas for t in profile.txs]
            remaining = critical_path(deps, gas)
            priority = [(own - rest_, j) for j, (rest_, own) in enumerate(zip(remaining, gas))]
        else:
            priority = list(range(len(seconds)))
        makespan = _event_loop(slow, workers, overheads, _ListSchedule(deps, priority))
    else:
        # what an optimistic run must see to be valid: true dependencies, nonces predicted
        deps = dependencies(footprints, "slot", "reads", predict_nonces=True)
        if strategy == "block-stm":
            makespan = _event_loop(slow, workers, overheads, _BlockSTM(deps, overheads.ipc))
        else:
            makespan = _occ(slow, deps, workers, overheads)
    return serial / (rest + overheads.start + makespan)


class _Processes:
    """When each process is next free; a process with nothing to do sleeps until
    another one acts (which may give it something)."""

    def __init__(self, count: int):
        self.free = [0.0] * count
        self.asleep: set[int] = set()

    def next(self) -> tuple[int, float]:
        p = min(range(len(self.free)), key=lambda q: (self.free[q], q))
        return p, self.free[p]

    def busy_until(self, p: int, until: float, now: float) -> None:
        self.free[p] = until
        for q in self.asleep:  # something changed: look again
            self.free[q] = now
        self.asleep.clear()

    def wait(self, p: int, now: float, events: list[float]) -> None:
        """Nothing for p at ``now``: until the next of ``events``, or until woken."""
        later = [x for x in events if x > now]
        if later:
            self.free[p] = min(later)
        else:
            self.free[p] = INF
            self.asleep.add(p)


def _event_loop(t: Sequence[float], workers: int, oh: Overheads, policy) -> float:
    """The processes take turns by the clock: the coordinator (0) commits what is
    visible, otherwise a process runs what ``policy`` gives it or waits. The
    policy keeps ``visible`` (when each valid result is known everywhere) and
    says what to run (``take``), what a run did (``ran``) and when it may have
    more (``upcoming``)."""
    coordinator = _Coordinator(len(t), oh.commit)
    procs = _Processes(workers)
    while not coordinator.done:
        p, now = procs.next()
        if p == 0 and coordinator.commit_until(now, policy.visible):
            procs.busy_until(0, coordinator.time, now)
            continue
        j = policy.take(now)
        if j is None:
            procs.wait(p, now, [*policy.upcoming(), coordinator.next_visible(policy.visible)])
            continue
        finish = now + t[j]
        policy.ran(j, now, finish + (oh.ipc if p else 0.0))
        procs.busy_until(p, finish, now)
    return coordinator.time


class _ListSchedule:
    """Declared dependencies: start when all are visible, best priority first."""

    def __init__(self, deps: Sequence[set[int]], priority):
        n = len(deps)
        self.deps, self.priority = deps, priority
        self.successors: list[list[int]] = [[] for _ in range(n)]
        for j, preds in enumerate(deps):
            for i in preds:
                self.successors[i].append(j)
        self.waiting = [len(preds) for preds in deps]
        self.visible = [INF] * n
        self.later = [(0.0, priority[j], j) for j in range(n) if not deps[j]]  # (ready at, priority, j)
        heapq.heapify(self.later)
        self.ready: list = []  # (priority, j)

    def take(self, now: float):
        while self.later and self.later[0][0] <= now:
            _, prio, j = heapq.heappop(self.later)
            heapq.heappush(self.ready, (prio, j))
        return heapq.heappop(self.ready)[1] if self.ready else None

    def ran(self, j: int, start: float, visible: float) -> None:
        self.visible[j] = visible
        for k in self.successors[j]:
            self.waiting[k] -= 1
            if not self.waiting[k]:
                ready_at = max(self.visible[i] for i in self.deps[k])
                heapq.heappush(self.later, (ready_at, self.priority[k], k))

    def upcoming(self) -> list[float]:
        return [self.later[0][0]] if self.later else []


class _BlockSTM:
    """Lowest index first; a run that started before what it reads was final and
    visible is wasted, and redone once that is (ESTIMATE markers make it wait)."""

    def __init__(self, deps: Sequence[set[int]], ipc: float):
        n = len(deps)
        self.deps, self.ipc = deps, ipc
        self.visible = [INF] * n  # of the valid result
        self.eligible = [(0.0, j) for j in range(n)]  # (when, index): first runs at once
        heapq.heapify(self.eligible)
        self.parked: list[int] = []  # re-runs waiting for inputs that are not final yet

    def take(self, now: float):
        still = []
        for j in self.parked:
            when = max((self.visible[i] for i in self.deps[j]), default=0.0)
            if when < INF:
                heapq.heappush(self.eligible, (when + self.ipc, j))
            else:
                still.append(j)
        self.parked = still
        return _lowest_eligible(self.eligible, now)

    def ran(self, j: int, start: float, visible: float) -> None:
        if all(self.visible[i] <= start for i in self.deps[j]):
            self.visible[j] = visible
        else:
            self.parked.append(j)

    def upcoming(self) -> list[float]:
        return [self.eligible[0][0]] if self.eligible else []


def _lowest_eligible(heap: list, now: float):
    """Pop the lowest index among the entries eligible by ``now``."""
    due = []
    while heap and heap[0][0] <= now:
        due.append(heapq.heappop(heap))
    if not due:
        return None
    due.sort(key=lambda entry: entry[1])
    for entry in due[1:]:
        heapq.heappush(heap, entry)
    return due[0][1]


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


class _Coordinator:
    """The in-order commit: the next result is committed once it is visible."""

    def __init__(self, n: int, cost: float):
        self.n, self.cost = n, cost
        self.next = 0
        self.time = 0.0

    @property
    def done(self) -> bool:
        return self.next >= self.n

    def commit_until(self, now: float, visible: Sequence[float]) -> bool:
        """Commit what is visible by ``now``; whether anything was."""
        self.time = max(self.time, now)
        committed = False
        while self.next < self.n and visible[self.next] <= self.time:
            self.time += self.cost
            self.next += 1
            committed = True
        return committed

    def next_visible(self, visible: Sequence[float]) -> float:
        return visible[self.next] if self.next < self.n else INF
