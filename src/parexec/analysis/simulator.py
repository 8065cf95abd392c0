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

A strategy is modelled through the engine it runs on (its ``engine``
attribute; ``MODELS`` holds one model per engine), by replaying that engine's
own loop on virtual time with the engine's own code for the decisions:

* ``mv-run`` (parallel.mv_run: block-stm and the declared-access strategies):
  ``_MVRunModel`` drives the engine's Schedule (parallel.schedule: states,
  dependencies, the abort rule) under the strategy's own RunPlan (what each
  transaction waits for, priorities, the chunk policy; declared strategies
  plan from exact access lists). Chunks go to workers; a chunk sees the
  multi-version memory as it was when sent, so a transaction whose true
  dependencies had no valid entry yet runs stale (or meets an ESTIMATE) and is
  redone, as the engine would; the coordinator takes results in only between
  its own executions.
* ``occ``: workers take chunks from the back (parallel.chunks.back_chunk) and
  run them from the top down on committed state; the coordinator works from
  the front, executing what no worker has begun; a speculative result whose
  dependencies were committed too late for it to see is re-executed by the
  coordinator at commit.

Times are execution times scaled by ``1 + contention`` (processes sharing a
machine run slower than one alone). The simulation ignores what no footprint
shows (memory bandwidth, the GIL's absence in processes, uneven cores).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from parexec.access.dependencies import dependencies
from parexec.analysis.block_profile import BlockProfile
from parexec.parallel.chunks import back_chunk, chunk_size
from parexec.parallel.mv_run import RunPlan
from parexec.parallel.schedule import EXECUTED, EXECUTING, Schedule
from parexec.strategies import STRATEGIES
from parexec.strategies.base import MIN_PARALLEL_TXS

INF = math.inf
# a transaction's entry in the coordinator's multi-version memory, as the model sees it
_NONE, _ESTIMATE, _STALE, _VALID = range(4)
BLOCKED_SHARE = 0.5  # of a run that meets an ESTIMATE: where in it the read comes is not known


@dataclass(frozen=True)
class Overheads:
    commit: float = 0.0  # coordinator seconds per transaction
    ipc: float = 0.0  # seconds from a worker's result to the coordinator (and back)
    start: float = 0.0  # seconds per block before parallel execution begins
    contention: float = 0.0  # execution slows by this share when processes run side by side


def simulate(profile: BlockProfile, strategy: str, workers: int, overheads: Overheads) -> float:
    """The predicted speedup of ``strategy`` with ``workers`` processes over serial."""
    model = model_of(strategy)
    seconds = [t.seconds for t in profile.txs]
    serial = profile.block_seconds
    rest = max(0.0, serial - sum(seconds))  # block work outside transactions: the same for all
    if model is None or workers <= 1 or len(seconds) < MIN_PARALLEL_TXS:
        return 1.0  # as the engine: small blocks run serially
    makespan = model(STRATEGIES[strategy], profile, workers, overheads)
    return serial / (rest + overheads.start + makespan)


def predict(profile: BlockProfile, strategies: list[str], worker_counts: list[int], overheads,
            bound: float) -> list[dict]:
    """Rows {target, strategy, workers, predicted_speedup, bound_critical_path,
    bound_workers} for every strategy and worker count; ``overheads(strategy)``
    gives a strategy's Overheads, ``bound`` is the block's critical-path bound."""
    rows = []
    for strategy in strategies:
        oh = overheads(strategy)
        for n in worker_counts:
            rows.append({"target": profile.target, "strategy": strategy, "workers": n,
                         "predicted_speedup": simulate(profile, strategy, n, oh),
                         "bound_critical_path": bound, "bound_workers": n})
    return rows


def prediction_errors(rows: list[dict]) -> dict[str, list[float]]:
    """Per strategy, |predicted / measured - 1| of each row with a measured speedup."""
    errors: dict[str, list[float]] = {}
    for r in rows:
        if "measured_speedup" in r:
            errors.setdefault(r["strategy"], []).append(abs(r["predicted_speedup"] / r["measured_speedup"] - 1))
    return errors


def model_of(strategy: str):
    """The model of ``strategy``'s engine (None for serial execution); raises
    ValueError, saying why, for a strategy that cannot be simulated."""
    cls = STRATEGIES.get(strategy)
    if cls is None:
        raise ValueError(f"cannot simulate {strategy!r}: no such strategy; "
                         f"choose from {', '.join(sorted(STRATEGIES))}")
    engine = getattr(cls, "engine", None)
    if engine not in MODELS:
        raise ValueError(f"cannot simulate {strategy!r}: its engine {engine!r} has no model "
                         f"(models exist for {', '.join(sorted(MODELS))})")
    return MODELS[engine]


def simulated_strategies() -> list[str]:
    """The registered strategies that can be simulated, serial first."""
    return [name for name, cls in STRATEGIES.items() if getattr(cls, "engine", None) in MODELS]


def _true_deps(profile: BlockProfile) -> list[set[int]]:
    """What an optimistic execution must see to be valid: true dependencies,
    nonces predicted."""
    return dependencies([t.footprint for t in profile.txs], "slot", "reads", predict_nonces=True)


def _slowed(profile: BlockProfile, oh: Overheads) -> list[float]:
    return [t.seconds * (1 + oh.contention) for t in profile.txs]


def _occ_model(cls, profile: BlockProfile, workers: int, oh: Overheads) -> float:
    return _occ(_slowed(profile, oh), _true_deps(profile), workers, oh)


def _mv_run_model(cls, profile: BlockProfile, workers: int, oh: Overheads) -> float:
    txs = profile.txs
    plan = cls.plan([t.footprint for t in txs], [t.gas for t in txs])
    gas_limits = [t.gas_limit or t.gas for t in txs]
    return _MVRunModel(_slowed(profile, oh), gas_limits, _true_deps(profile), plan, workers, oh).run()


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
                    tasks = back_chunk(front, back, workers)
                    if not tasks:
                        break  # what is left is the coordinator's
                    queue[w] = list(tasks)
                    back -= len(tasks)
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
    """The engine's loop (parallel.mv_run.MVRun) on virtual time, on the
    engine's own Schedule: the coordinator dispatches chunks of ready
    transactions to workers that hold fewer than the policy's queue, takes in
    the results that have arrived, commits the front (executing it exactly if
    it has no valid result, one at a time), and while a worker holds the front
    executes one ready transaction itself.

    A worker's chunk sees the coordinator's multi-version memory as it was when
    the chunk was sent, plus its own earlier results. An execution is valid when
    every transaction it truly depends on had a valid entry in that view;
    one that meets an ESTIMATE (an aborted entry) is suspended until the writer
    finishes; otherwise it is stale and aborted once the entry it missed becomes
    valid (eager re-validation), or redone exactly at the front."""

    def __init__(self, t, gas_limits, true_deps, plan: RunPlan, workers: int, oh: Overheads):
        n = self.n = len(t)
        self.t, self.deps, self.oh = t, true_deps, oh
        self.schedule = Schedule(n, plan.deps, plan.priority, gas_limits)
        self.entry = [_NONE] * n  # what j's entry in the coordinator's MV memory is
        self.stale_readers: dict[int, set[int]] = {}  # i -> stale results that missed i's valid entry
        self.chunk, self.policy = chunk_size(n, workers), plan.chunks
        self.queues = [[] for _ in range(workers - 1)]  # per worker: (arrival, outcomes) of its chunks
        self.worker_free = [0.0] * (workers - 1)
        self.local: list[dict[int, int]] = [{} for _ in range(workers - 1)]  # a worker's own entries

    def run(self) -> float:
        now = 0.0
        schedule = self.schedule
        while not schedule.done:
            self._dispatch(now)
            self._collect(now)
            now = self._commit_front(now)
            if schedule.done:
                break
            if schedule.status[schedule.front] == EXECUTING:
                j = schedule.take_one()
                if j is not None:  # the coordinator executes one itself, on the authoritative memory
                    outcome = self._outcome(j, self.entry.__getitem__)
                    now += self.t[j] * (BLOCKED_SHARE if outcome[1] == "blocked" else 1)
                    self._handle(j, schedule.incarnation[j], *outcome[1:])
                else:  # wait for the next chunk
                    now = max(now, min(q[0][0] for q in self.queues if q))
        return now

    # ---------------------------------------------------------------- dispatch
    def _dispatch(self, now: float) -> None:
        idle = [w for w in range(len(self.queues)) if len(self.queues[w]) < self.policy.queued]
        for w, tasks in self.schedule.hand_out(idle, self.chunk, self.policy):
            self._send(w, tasks, now)

    def _send(self, w: int, tasks: list[int], now: float) -> None:
        """The chunk's outcomes, decided by the view it is sent with."""
        local = self.local[w]
        view = lambda i: self.entry[i] if self.entry[i] != _NONE else local.get(i, _NONE)  # noqa: E731
        clock = max(self.worker_free[w], now)
        outcomes = []
        for j in tasks:
            outcome = self._outcome(j, view)
            if outcome[1] == "blocked":
                clock += self.t[j] * BLOCKED_SHARE
            else:
                clock += self.t[j]
                local[j] = _STALE if outcome[2] else _VALID
            outcomes.append((j, self.schedule.incarnation[j], *outcome[1:]))
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
        schedule = self.schedule
        if schedule.status[j] != EXECUTING or schedule.incarnation[j] != incarnation:
            return  # stale: aborted or committed meanwhile
        if kind == "blocked":
            schedule.suspend(j, info)
            return
        schedule.finish(j)
        self._set_entry(j, _STALE if info else _VALID)
        if any(self.entry[i] == _VALID for i in info):  # its replica lagged behind
            self._abort(j)
        else:
            for i in info:
                self.stale_readers.setdefault(i, set()).add(j)
        schedule.release(j)

    def _set_entry(self, j: int, entry: int) -> None:
        self.entry[j] = entry
        if entry == _VALID:
            for k in sorted(self.stale_readers.pop(j, ())):
                if self.schedule.status[k] == EXECUTED:
                    self._abort(k)

    def _abort(self, k: int) -> None:
        self.entry[k] = _ESTIMATE
        if self.schedule.abort(k):  # the front finishes alone
            for queue in self.queues:
                queue.clear()

    # ---------------------------------------------------------------- commit
    def _commit_front(self, now: float) -> float:
        schedule = self.schedule
        while not schedule.done:
            j = schedule.front
            status = schedule.status[j]
            if status == EXECUTING:
                return now
            exact = not (status == EXECUTED and self.entry[j] == _VALID)
            now += self.oh.commit + (self.t[j] if exact else 0.0)
            self._set_entry(j, _VALID)
            schedule.commit(j, accepted=not exact)
            if exact:
                return now
        return now


# per engine (a strategy's ``engine``), its model: makespan(strategy class, profile, workers, overheads)
MODELS = {"serial": None, "occ": _occ_model, "mv-run": _mv_run_model}
