"""Discrete-event simulation of each strategy's schedule on N virtual workers.

What 8, 32 or 64 cores would buy, from what one core measured: each
transaction's serial time and real footprint (analysis.block_profile), and the
engine's overheads on this machine (``Overheads``, measured by parexec.calibration).
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
  redone, as the engine would; reads that are no dependency meet ESTIMATEs
  too (``_Reads``: balance floors, predicted nonces, reads that fall through
  to an older writer); the coordinator takes results in only between its own
  executions.
* ``occ``: workers take chunks from the back (parallel.chunks.back_chunk) and
  run them from the top down on committed state; the coordinator works from
  the front, executing what no worker has begun; a speculative result whose
  dependencies were committed too late for it to see is re-executed by the
  coordinator at commit.
* ``all-at-once`` (parallel.all_at_once: bal with its list): the engine's own
  Dispenser hands out the order (heaviest gas limit first) from both ends; no
  transaction waits for another; every process decodes the list first, the
  workers enter the accounts their transactions read, the coordinator enters
  the whole list once the workers have their first chunks, takes each result
  in as it arrives and applies them all at the end.

The block's work outside the strategy (``BlockProfile.pipeline_seconds``: system
calls, rewards, receipts) is serial time for every strategy, but for the
receipts' encoding and hashing (``BlockProfile.receipts_seconds``), which the
workers share with the coordinator, a round trip (``ipc``) more.

Times are execution times scaled by ``1 + view`` (executing on the engine's
memory rather than on serial execution's state, one process alone; bal: on each
block's own list, where measured, ``BlockProfile.list_view``) and by
``1 + contention`` (processes sharing a machine run slower than one alone),
plus ``execution`` each (the engine's work around an execution, wherever it
runs). A block's start is ``start`` (the block
handed to one worker, as calibration probes it) and ``send`` for each further
worker. Every model also counts the executions
the coordinator does itself, as the engines do
(``RunStats.coordinator_executions``): the calibration fits ``commit`` and
``execution`` to both (bal's ``commit`` it times in the engine instead, and
fits only ``execution``). The simulation ignores what no footprint shows (memory
bandwidth, the GIL's absence in processes, uneven cores).
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from parexec.access.dependencies import dependencies, dependency_edges
from parexec.analysis.block_profile import BlockProfile
from parexec.model import BALANCE, BALANCE_DELTA, BALANCE_FLOOR, STORAGE
from parexec.parallel.chunks import back_chunk, chunk_size
from parexec.parallel.mv_run import RunPlan
from parexec.parallel.worker_pool import MIN_RECEIPTS
from parexec.parallel.schedule import EXECUTED, EXECUTING, Schedule
from parexec.strategies import STRATEGIES, split_spec
from parexec.strategies.base import MIN_PARALLEL_TXS

INF = math.inf
# a transaction's entry in the coordinator's multi-version memory, as the model sees it
_NONE, _ESTIMATE, _STALE, _VALID = range(4)
BLOCKED_SHARE = 0.5  # of a run that meets an ESTIMATE: where in it the read comes is not known
# A balance floor is read first, after the signature checks: a run that meets an
# ESTIMATE there costs about 12 us against 230 us for a whole transfer (measured),
# and the sender it recovered stays cached for the next attempt.
FLOOR_BLOCKED_SHARE = 0.05


@dataclass(frozen=True)
class Overheads:
    commit: float = 0.0  # coordinator seconds per transaction (bal: per result taken in from a worker)
    # seconds per execution on whichever process executes it, beyond ``contention``
    # (handing it over, the engine's bookkeeping around it); fitted with ``commit``
    execution: float = 0.0
    ipc: float = 0.0  # seconds from a worker's result to the coordinator (and back)
    start: float = 0.0  # seconds per block before parallel execution begins (handing the block to one worker)
    # seconds to write one more message to a worker's pipe (the block to each worker past the
    # first, with its first request; bal's with its list), and per byte written (bal's list: see list_bytes)
    send: float = 0.0
    send_byte: float = 0.0
    # bal: seconds per message its coordinator writes to a worker while the transactions run (a
    # chunk of work, a claim), as many per result as chunks are small (calibrated: ``send``)
    message: float = 0.0
    # execution slows by this share when processes run side by side, against the same engine alone
    contention: float = 0.0
    # execution on the engine's memory (timed on bal's, a list's entered whole), one process
    # alone, is slower than on serial execution's state by this share; bal takes each block's
    # own where a profile holds it (BlockProfile.list_view)
    view: float = 0.0
    list_index: float = 0.0  # bal: seconds per transaction to index a block's list's accounts (every process)
    # bal: seconds per transaction for the coordinator to enter the whole list (rules,
    # counts), where a profile holds no measurement on its own list (BlockProfile.list_load)
    list_load: float = 0.0
    # bal: seconds for a worker to enter an account of the list (once a block, when a
    # transaction it executes first touches it), and per location and per change the
    # list holds for it (see list_entries)
    enter_account: float = 0.0
    enter_location: float = 0.0
    enter_change: float = 0.0
    stage: float = 0.0  # bal: seconds per transaction for the coordinator to stage the list's post-state
    # bal: seconds per transaction for the coordinator to commit it, in block order (once it and
    # every transaction before it are in)
    commit_in_order: float = 0.0
    settle: float = 0.0  # bal: seconds per transaction to settle the block once every result is in and committed
    result_check: float = 0.0  # bal: seconds per transaction to hold a result to the list where it ran, and send it


class ModelRun(NamedTuple):
    """A model's run of a block's transactions."""

    makespan: float  # seconds
    coordinator_executions: int  # the executions the coordinator did itself (the rest ran on workers)
    # the makespan holds writing every worker its block (else charged apart: ``send`` a worker)
    blocks_written: bool = False


class Simulated(NamedTuple):
    speedup: float  # over serial
    coordinator_executions: int  # as ModelRun's


def simulate(profile: BlockProfile, strategy: str, workers: int, overheads: Overheads) -> float:
    """The predicted speedup of ``strategy`` with ``workers`` processes over serial."""
    return simulate_run(profile, strategy, workers, overheads).speedup


def simulate_run(profile: BlockProfile, strategy: str, workers: int, overheads: Overheads) -> Simulated:
    """The predicted speedup of ``strategy`` with ``workers`` processes over
    serial, and how many executions its coordinator does itself."""
    strategy, options = split_spec(strategy)
    model = model_of(strategy)
    seconds = [t.seconds for t in profile.txs]
    serial = profile.block_seconds
    rest = profile.pipeline_seconds  # block work outside the strategy: the same for all
    if rest is None:
        rest = max(0.0, serial - sum(seconds))
    if model is None or workers <= 1 or len(seconds) < MIN_PARALLEL_TXS:
        return Simulated(1.0, len(seconds))  # as the engine: small blocks run serially
    run = model(STRATEGIES[strategy], profile, workers, overheads, **options)
    started = overheads.start  # the block to a worker
    if not run.blocks_written:  # and to every other one
        started += (workers - 2) * overheads.send
    elapsed = rest - receipts_elsewhere(profile, workers, overheads) + started + run.makespan
    return Simulated(serial / elapsed, run.coordinator_executions)


def receipts_elsewhere(profile: BlockProfile, workers: int, overheads: Overheads) -> float:
    """The receipt work a block run on the workers takes off the coordinator:
    they encode and hash shares of the receipts while it does the first
    (parallel.worker_pool.receipt_leaves), a round trip more and a message to
    each (``send``)."""
    parts = min(workers, len(profile.txs) // MIN_RECEIPTS)
    if parts < 2:
        return 0.0
    return profile.receipts_seconds * (1 - 1 / parts) - overheads.ipc - (parts - 1) * overheads.send


def predict(profile: BlockProfile, strategies: list[str], worker_counts: list[int], overheads,
            bound: float) -> list[dict]:
    """Rows {target, strategy, workers, predicted_speedup,
    predicted_coordinator_executions, bound_critical_path, bound_workers} for
    every strategy and worker count; ``overheads(strategy)`` gives a strategy's
    Overheads, ``bound`` is the block's critical-path bound."""
    rows = []
    for strategy in strategies:
        oh = overheads(strategy)
        for n in worker_counts:
            run = simulate_run(profile, strategy, n, oh)
            rows.append({"target": profile.target, "strategy": strategy, "workers": n,
                         "predicted_speedup": run.speedup,
                         "predicted_coordinator_executions": run.coordinator_executions,
                         "bound_critical_path": bound, "bound_workers": n})
    return rows


def prediction_errors(rows: list[dict], what: str = "speedup") -> dict[str, list[float]]:
    """Per strategy, |predicted / measured - 1| of ``what`` ("speedup" or
    "coordinator_executions") in each row where it was measured (and is not zero)."""
    errors: dict[str, list[float]] = {}
    for r in rows:
        if r.get(f"measured_{what}"):
            errors.setdefault(r["strategy"], []).append(abs(r[f"predicted_{what}"] / r[f"measured_{what}"] - 1))
    return errors


# A median error past this, at the worker count where --validate measures, says the
# model's overheads no longer describe this machine: quiet calibrations missed
# by 1.4-5.6% in every make simulate so far; one measured while something else
# ran fitted a contention of 32.8% (3.5-6.6% otherwise) and missed by 16.8-21.3%.
MODEL_TOLERANCE = 0.10


def beyond_tolerance(errors: dict[str, list[float]], tolerance: float = MODEL_TOLERANCE) -> dict[str, float]:
    """The strategies whose median error (``prediction_errors``) exceeds
    ``tolerance``, with that median."""
    medians = {strategy: statistics.median(e) for strategy, e in errors.items() if e}
    return {strategy: m for strategy, m in medians.items() if m > tolerance}


def model_of(strategy: str):
    """The model of ``strategy``'s engine (None for serial execution); raises
    ValueError, saying why, for a strategy that cannot be simulated."""
    cls = STRATEGIES.get(split_spec(strategy)[0])
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


def _slowed(profile: BlockProfile, oh: Overheads, own_list: bool = False) -> list[float]:
    """Each transaction's time in the engine, wherever it runs (``own_list``: on
    the block's own list, at the profile's ``list_view`` where measured)."""
    view = profile.list_view if own_list and profile.list_view is not None else oh.view
    slowed = (1 + view) * (1 + oh.contention)
    return [t.seconds * slowed + oh.execution for t in profile.txs]


def _occ_model(cls, profile: BlockProfile, workers: int, oh: Overheads, redo: str = "auto") -> ModelRun:
    t = _slowed(profile, oh)
    if redo == "off" or any(tx.logged_seconds is None for tx in profile.txs):
        return _occ(t, _true_deps(profile), workers, oh)
    logs = [tx.logged or redo == "on" for tx in profile.txs]
    # a logged speculation costs what the probe measured over serial; a repair what it took
    spec = [t[j] * max(1.0, tx.logged_seconds / tx.seconds) if logs[j] and tx.seconds else t[j]
            for j, tx in enumerate(profile.txs)]
    repair = [tx.redo_seconds if logs[j] else None for j, tx in enumerate(profile.txs)]
    return _occ(t, _true_deps(profile), workers, oh, spec, repair)


def _mv_run_model(cls, profile: BlockProfile, workers: int, oh: Overheads) -> ModelRun:
    footprints = [t.footprint for t in profile.txs]
    plan = cls.plan(footprints, [t.gas for t in profile.txs])
    gas_limits = [t.gas_limit or t.gas for t in profile.txs]
    return _MVRunModel(_slowed(profile, oh), gas_limits, _true_deps(profile), _Reads(footprints), plan,
                       workers, oh).run()


def _occ(t: Sequence[float], deps: Sequence[set[int]], workers: int, oh: Overheads,
         spec: Sequence[float] | None = None, repair: Sequence[float | None] | None = None) -> ModelRun:
    """Workers take chunks from the back and run them from the top down on committed
    state; the coordinator commits from the front, executing what no worker has
    begun and redoing a result that could not see a dependency's commit. With
    operation-level redo a worker's execution takes ``spec[j]`` (logging) and a
    stale result whose ``repair[j]`` is known is repaired in that time instead."""
    spec = t if spec is None else spec
    n = len(t)
    began = [INF] * n
    arrives = [INF] * n  # a worker's result at the coordinator
    committed = [INF] * n
    clock = [0.0] * workers
    queue: list[list[int]] = [[] for _ in range(workers)]
    back, now = n, 0.0
    here = 0  # executions the coordinator does
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
                clock[w] += spec[j]
                arrives[j] = clock[w] + oh.ipc
        j = front
        if began[j] <= now:  # a worker has begun it: wait for the result
            now = max(now, arrives[j])
            if any(committed[i] + oh.ipc > began[j] for i in deps[j]):  # it could not see a dependency:
                fixed = None if repair is None else repair[j]
                now += t[j] if fixed is None else fixed  # redone (or repaired) at commit
                here += fixed is None
        else:
            now += t[j]  # nobody began it: the coordinator executes it exactly
            here += 1
        now += oh.commit
        committed[j] = now
    return ModelRun(now, here)


class _Reads:
    """How the engine's reads meet aborted entries (ESTIMATEs) beyond a
    transaction's own true dependencies.

    * A read whose true writer has no entry yet falls through to the nearest
      earlier writer of the location that has one: an ESTIMATE there suspends
      the execution (a chain of increments waits, instead of running stale).
    * A balance floor (the sender can pay) sums every balance entry of its
      account since the last exact write, so an ESTIMATE among them suspends a
      worker's execution and fails the coordinator's validation: one aborted
      payout of a hot wallet holds up its later ones, and when the coinbase
      pays out, every aborted fee payer does.
    * A predicted nonce is validated against the sender's nearest recorded
      nonce entry, and re-validated whenever the sender's nonce entries change.

    ESTIMATE marks come and go with ``mark``."""

    FALL_THROUGH = 16  # lower writers looked at (the nearest have entries, mostly)

    def __init__(self, footprints: Sequence):
        n = len(footprints)
        # j -> (account, the first writer whose entry a floor of j sums)
        self.floors: list[list[tuple[bytes, int]]] = [[] for _ in range(n)]
        self.balance_writes: list[list[bytes]] = [[] for _ in range(n)]  # j -> accounts whose balance j writes
        self.sender: list[bytes | None] = [fp.sender for fp in footprints]
        self.recorded: dict[bytes, list[int]] = {}  # sender -> its txs with a nonce entry, sorted
        self.estimates: dict[bytes, list[int]] = {}  # account -> balance writers now ESTIMATE, sorted
        self.sender_estimates: dict[bytes, list[int]] = {}  # sender -> its txs now ESTIMATE, sorted
        self.lower: dict[tuple[int, int], list[int]] = {}  # (i, j) -> writers below i of what j reads from i
        last_exact: dict[bytes, int] = {}
        writers: dict[tuple, list[int]] = {}
        for j, fp in enumerate(footprints):
            for loc in fp.reads:
                if loc[0] == BALANCE_FLOOR:
                    self.floors[j].append((loc[1], last_exact.get(loc[1], 0)))
            for loc in fp.writes:
                if loc[0] in (BALANCE, BALANCE_DELTA):
                    self.balance_writes[j].append(loc[1])
                    if loc[0] == BALANCE:
                        last_exact[loc[1]] = j
                    loc = (BALANCE, loc[1])
                writers.setdefault(loc, []).append(j)
        for i, j, key in dependency_edges(footprints, "slot", "reads", predict_nonces=True):
            below = writers.get(key, ())
            k = bisect_left(below, i)
            self.lower.setdefault((i, j), []).extend(reversed(below[max(0, k - self.FALL_THROUGH):k]))

    def mark(self, j: int, estimate: bool, recorded_before: bool) -> None:
        """j's entry is now an ESTIMATE, or a value (recorded for the first time,
        unless ``recorded_before``)."""
        sender = self.sender[j]
        marks = [self.estimates.setdefault(a, []) for a in self.balance_writes[j]]
        if sender is not None:
            marks.append(self.sender_estimates.setdefault(sender, []))
            if not recorded_before:
                insort(self.recorded.setdefault(sender, []), j)
        for marked in marks:
            k = bisect_left(marked, j)
            present = k < len(marked) and marked[k] == j
            if estimate and not present:
                marked.insert(k, j)
            elif not estimate and present:
                del marked[k]

    def floor_estimate(self, j: int, fresh=()) -> int | None:
        """The ESTIMATE writer (the highest) that a balance floor of j sums, if
        any, but for those ``fresh`` (re-executed since, by whoever executes j)."""
        for account, first in self.floors[j]:
            marked = self.estimates.get(account)
            if marked:
                k = bisect_left(marked, j)
                while k and marked[k - 1] >= first:
                    if marked[k - 1] not in fresh:
                        return marked[k - 1]
                    k -= 1
        return None

    def nonce_estimate(self, j: int) -> bool:
        """Whether the sender's nearest nonce entry below j is an ESTIMATE."""
        sender = self.sender[j]
        if sender is None or not self.sender_estimates.get(sender):
            return False
        recorded = self.recorded.get(sender, [])
        k = bisect_left(recorded, j)
        return k > 0 and recorded[k - 1] in self.sender_estimates[sender]

    def nonce_suspects(self, i: int) -> list[int]:
        """When i's nonce entry changes the engine re-validates the sender's later
        nonce readers: those just above an ESTIMATE (their nearest entry) fail."""
        sender = self.sender[i]
        if sender is None or not self.sender_estimates.get(sender):
            return []
        recorded = self.recorded.get(sender, [])
        suspects = []
        for e in self.sender_estimates[sender]:
            k = bisect_right(recorded, e)
            if k < len(recorded) and recorded[k] > i:
                suspects.append(recorded[k])
        return suspects


class _View:
    """The multi-version memory as an execution sees it: the coordinator's
    entries (as they were when a chunk was sent), over which a worker's replica
    shows its own results: those of earlier chunks where the coordinator has
    none yet (``local``), and this chunk's (``fresh``) everywhere."""

    def __init__(self, entry: list[int], local: dict[int, int] | None = None):
        self.entry = entry
        self.local = local if local is not None else {}
        self.fresh: dict[int, int] = {}

    def __call__(self, i: int) -> int:
        if i in self.fresh:
            return self.fresh[i]
        entry = self.entry[i]
        return self.local.get(i, _NONE) if entry == _NONE else entry

    def is_own(self, i: int) -> bool:
        """Whether what the view shows of i is the executing worker's own result."""
        return i in self.fresh or (self.entry[i] == _NONE and i in self.local)

    def record(self, j: int, entry: int) -> None:
        self.local[j] = self.fresh[j] = entry


class _MVRunModel:
    """The engine's loop (parallel.mv_run.MVRun) on virtual time, on the
    engine's own Schedule: the coordinator dispatches chunks of ready
    transactions to workers that hold fewer than the policy's queue, takes in
    the results that have arrived, commits the front (executing it exactly if
    it has no valid result, one at a time), and while a worker holds the front
    executes one ready transaction itself.

    A worker's chunk sees the coordinator's multi-version memory as it was when
    the chunk was sent, plus its own results (``_View``). An execution is valid
    when every transaction it truly depends on had a valid entry in that view;
    one that meets an ESTIMATE (an aborted entry: of a true dependency, or
    through the reads of ``_Reads``) is suspended until the writer finishes;
    otherwise it is stale, and it is aborted when an entry it missed is
    recorded anew (re-validation, which reaches the readers of those readers
    in the same pass, as the engine's does for one location), or redone
    exactly at the front. The coordinator's validation of a finished result
    fails as the engine's does: an entry it missed was recorded anew or
    aborted since, or a balance floor or the nonce meets an ESTIMATE."""

    def __init__(self, t, gas_limits, true_deps, reads: _Reads, plan: RunPlan, workers: int,
                 oh: Overheads):
        n = self.n = len(t)
        self.t, self.deps, self.reads, self.oh = t, true_deps, reads, oh
        self.schedule = Schedule(n, plan.deps, plan.priority, gas_limits)
        self.entry = [_NONE] * n  # what j's entry in the coordinator's MV memory is
        self.version = [0] * n  # how often j's entry was recorded
        self.stale_readers: dict[int, set[int]] = {}  # i -> EXECUTED results that missed i's valid entry
        self.chunk, self.policy = chunk_size(n, workers), plan.chunks
        self.queues = [[] for _ in range(workers - 1)]  # per worker: (arrival, outcomes) of its chunks
        self.worker_free = [0.0] * (workers - 1)
        self.local: list[dict[int, int]] = [{} for _ in range(workers - 1)]  # a worker's own entries
        self.here = 0  # executions the coordinator does

    def run(self) -> ModelRun:
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
                    self.here += 1
                    kind, info, share = self._outcome(j, _View(self.entry))
                    now += self.t[j] * share
                    self._handle(j, schedule.incarnation[j], kind, info)
                else:  # wait for the next chunk
                    now = max(now, min(q[0][0] for q in self.queues if q))
        return ModelRun(now, self.here)

    # ---------------------------------------------------------------- dispatch
    def _dispatch(self, now: float) -> None:
        idle = [w for w in range(len(self.queues)) if len(self.queues[w]) < self.policy.queued]
        for w, tasks in self.schedule.hand_out(idle, self.chunk, self.policy):
            self._send(w, tasks, now)

    def _send(self, w: int, tasks: list[int], now: float) -> None:
        """The chunk's outcomes, decided by the view it is sent with."""
        view = _View(self.entry, self.local[w])
        clock = max(self.worker_free[w], now)
        outcomes = []
        for j in tasks:
            kind, info, share = self._outcome(j, view)
            clock += self.t[j] * share
            if kind == "done":
                view.record(j, _STALE if info else _VALID)
            outcomes.append((j, self.schedule.incarnation[j], kind, info))
        self.worker_free[w] = clock
        self.queues[w].append((clock + self.oh.ipc, outcomes))

    def _outcome(self, j: int, view: _View) -> tuple:
        """("blocked", the writer, share) or ("done", what it missed, 1): share
        is the part of j's time the execution takes; what it missed, a list of
        (dependency, the version of its entry that j read, or -1 for a result
        of the executing worker itself)."""
        writer = self.reads.floor_estimate(j, view.fresh)  # the balance check comes first
        if writer is not None:
            return ("blocked", writer, FLOOR_BLOCKED_SHARE)
        missed = []
        for i in sorted(self.deps[j]):
            seen = view(i)
            if seen == _NONE:  # the read falls through to the nearest lower writer with an entry
                for w in self.reads.lower.get((i, j), ()):
                    below = view(w)
                    if below == _ESTIMATE:
                        return ("blocked", w, BLOCKED_SHARE)
                    if below != _NONE:
                        break
            if seen == _ESTIMATE:
                return ("blocked", i, BLOCKED_SHARE)
            if seen != _VALID:
                missed.append((i, -1 if view.is_own(i) else self.version[i]))
        return ("done", missed, 1.0)

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
        if self._validation_fails(j, info):
            self._abort(j)
        else:
            for i, _ in info:
                self.stale_readers.setdefault(i, set()).add(j)
        schedule.release(j)

    def _validation_fails(self, j: int, missed) -> bool:
        """As the coordinator's validation of j's result: a dependency it missed
        has been recorded anew since j read it (its replica lagged behind) or is
        an ESTIMATE now, or a balance floor or the nonce meets an ESTIMATE."""
        for i, version in missed:
            if self.entry[i] == _ESTIMATE or (version >= 0 and self.version[i] != version):
                return True
        return self.reads.floor_estimate(j) is not None or self.reads.nonce_estimate(j)

    def _set_entry(self, j: int, entry: int) -> None:
        """j's entry changes: ESTIMATE (aborted), or a result recorded. A new
        result changes what j's readers read: those that missed it are aborted,
        as the engine's re-validation does."""
        before = self.entry[j]
        if entry == before == _VALID:
            return  # committed as it was
        self.entry[j] = entry
        if (before == _ESTIMATE) != (entry == _ESTIMATE) or before == _NONE:
            self.reads.mark(j, entry == _ESTIMATE, recorded_before=before != _NONE)
        if entry == _ESTIMATE:
            return
        self.version[j] += 1
        self._abort_readers(j)
        if before in (_NONE, _ESTIMATE):  # its nonce entry changed
            for k in self.reads.nonce_suspects(j):
                if self.schedule.status[k] == EXECUTED and self.reads.nonce_estimate(k):
                    self._abort(k)

    def _abort_readers(self, j: int) -> None:
        """The results that read an out-of-date entry of j fail re-validation; so
        do, in the same pass, those that read theirs (a chain of increments of
        one slot is re-validated as one location)."""
        changed = [j]
        while changed:
            for k in sorted(self.stale_readers.pop(changed.pop(0), ())):
                if self.schedule.status[k] == EXECUTED:
                    self._abort(k)
                    changed.append(k)

    def _abort(self, k: int) -> None:
        self._set_entry(k, _ESTIMATE)
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
            self.here += exact
            self._set_entry(j, _VALID)
            schedule.commit(j, accepted=not exact)
            if exact:
                return now
        return now


class ListSize(NamedTuple):
    """How much of a block's EIP-7928 list an account's entry holds."""

    locations: int  # its fields and slots the list holds (changed, or slots only read)
    changes: int  # their changes, one per transaction and location (a slot only read: one)


def list_entries(profile: BlockProfile) -> tuple[list[frozenset], dict[bytes, ListSize]]:
    """What a worker enters of the block's EIP-7928 list, as the footprints show it:
    per transaction the accounts it touches, and per account the size of its
    entry. Entering costs more per location than per change of one location
    (a slot is a key, a set and a series of its own; the fee recipient's balance
    changes at every transaction, in one series): the model charges both."""
    touched, changes, locations = [], {}, {}
    written = set()
    for tx in profile.txs:
        touched.append(frozenset(loc[1] for loc in tx.footprint.reads | tx.footprint.writes))
        for loc in tx.footprint.writes:
            changes[loc[1]] = changes.get(loc[1], 0) + 1
            locations.setdefault(loc[1], set()).add(_list_location(loc))
            written.add(loc)
    for loc in {loc for tx in profile.txs for loc in tx.footprint.reads if loc[0] == STORAGE} - written:
        changes[loc[1]] = changes.get(loc[1], 0) + 1
        locations.setdefault(loc[1], set()).add(loc)
    sizes = {address: ListSize(len(locations[address]), count) for address, count in changes.items()}
    for accounts in touched:
        for address in accounts:
            sizes.setdefault(address, ListSize(0, 0))
    return touched, sizes


def _list_location(loc) -> tuple:
    """The series of the list a written location belongs to (a credit is a balance change)."""
    return (BALANCE, loc[1]) if loc[0] == BALANCE_DELTA else loc


def entering_cost(size: ListSize, oh: Overheads) -> float:
    """Seconds for a worker to enter an account's entry of ``size``."""
    return oh.enter_account + oh.enter_location * size.locations + oh.enter_change * size.changes


def _all_at_once_model(cls, profile: BlockProfile, workers: int, oh: Overheads) -> ModelRun:
    """bal's engine (parallel.all_at_once), replayed with its own Dispenser. The
    coordinator tops each worker up to QUEUE chunks from the heavy end, a chunk
    each per round (a message each, ``message``); a
    worker's first comes with its block and the block's list, in one write
    (``send``, and ``send_byte`` per byte of the list: the profile's
    ``list_bytes``), and the worker indexes the list's accounts before it
    starts (``list_index`` per transaction). Between its rounds the coordinator
    indexes its own copy as well, then decodes and enters the whole list (the
    profile's ``list_load``, measured on the block's own list, else
    ``list_load`` per transaction) in PREPARE_ROUNDS steps (so the workers are
    kept fed), then executes from the light end of the order, a few at a time
    (Dispenser.take_own), topping the workers up between them; a worker runs its
    chunks in order, entering each account its transactions touch the first
    time one does (``enter_account``, and
    ``enter_location`` and ``enter_change`` per location and change the list
    holds for it: see list_entries), and a chunk's results arrive together,
    ``ipc`` after its last (a round trip's ``ipc``, timed as a whole, is
    charged once, on the way back, as in the other models). Whoever executes a
    transaction holds the result to the list and encodes it
    (``result_check``); executions on the list run at
    the block's own ``list_view`` where the profile holds it (else ``view``).
    The coordinator takes each worker's result in (``commit``) between its own
    transactions, or waiting once it has none, and, once the whole list is
    entered, commits every transaction whose result is in and whose
    predecessors are committed (``commit_in_order`` each:
    strategies.bal.BlockOrder); where the two ends meet it moves a request queued
    behind a worker's current one to a worker with none (all_at_once.move_to_idle:
    a claim of its tasks to the one, the request to the other, a message each),
    and claims the next transaction no worker has started (a message to a
    worker that holds it queued). After entering the
    list, in as many steps again, it stages the post-state the list's values give
    (``stage`` per transaction); once every result is in and committed it
    settles the block (``settle`` each: the list's last checks, the staged
    state merged)."""
    from collections import deque
    from heapq import heappop, heappush

    from parexec.parallel.all_at_once import PREPARE_ROUNDS, QUEUE, Dispenser

    # each execution held to the list where it ran; on the coordinator, the list all entered
    t = [seconds + oh.result_check for seconds in _slowed(profile, oh, own_list=True)]
    touched, sizes = list_entries(profile)
    entering = {a: entering_cost(size, oh) for a, size in sizes.items()}
    n = len(t)
    plan = Dispenser([tx.gas_limit or tx.gas for tx in profile.txs], workers)
    order = plan.order
    ready = n * oh.list_index  # indexing the list's accounts
    load = n * oh.list_load if profile.list_load is None else profile.list_load
    sending = oh.send + profile.list_bytes * oh.send_byte  # a worker's block, its list and first chunk
    now = 0.0  # the coordinator's clock
    # the coordinator's preparation, step by step: indexing the list, entering it whole, staging
    preparing = deque([ready] + [load / PREPARE_ROUNDS] * PREPARE_ROUNDS
                      + [n * oh.stage / PREPARE_ROUNDS] * PREPARE_ROUNDS)
    free = [0.0] * (workers - 1)  # when each worker is done with what it started
    written = [False] * (workers - 1)  # whether a worker has its block
    entered: list[set] = [set() for _ in free]  # per worker: the accounts it has entered
    # per worker: its requests not done yet, [arrival, tasks not started, tasks started]
    queued: list[deque] = [deque() for _ in free]

    def write(w: int, tasks, now: float) -> float:
        """A request to worker w (with its block the first time: one write); the clock after."""
        if written[w]:
            now += oh.message
        else:
            now += sending
            written[w] = True
            free[w] = now + ready  # it indexes the list on arrival
        queued[w].append([now, deque(tasks), []])  # a round trip's ipc comes with the results
        return now

    started = [False] * n
    # heap: (when, tx) for each worker result not yet taken in, as it reaches the coordinator
    arrivals: list[tuple[float, int]] = []
    done = [False] * n  # whose result the coordinator has (taken in or its own)
    committed = 0  # transactions committed, in block order
    here = 0  # executions the coordinator does

    def advance(w: int, until: float) -> None:
        """Worker w starts every queued task it reaches by ``until``."""
        while queued[w]:
            arrival, tasks, begun = queued[w][0]
            begin = max(free[w], arrival)
            if begin > until:
                return
            j = tasks.popleft()
            if not started[j]:  # a claimed one is skipped
                started[j] = True
                fresh = touched[j] - entered[w]
                entered[w] |= fresh
                free[w] = begin + t[j] + sum(entering[a] for a in fresh)
                begun.append(j)
            if not tasks:  # the request's results arrive together
                queued[w].popleft()
                for j in begun:
                    heappush(arrivals, (free[w] + oh.ipc, j))

    def move_to_idle(now: float) -> float:
        """all_at_once.move_to_idle: each worker whose results are all in gets the
        last request another holds behind the one it is on (none of its tasks
        begun); the worker with the most tasks not begun gives first, each one:
        a claim to the giver, and the request to the taker. The clock after."""
        idle = [w for w in range(len(free)) if not queued[w] and free[w] + oh.ipc <= now]
        if not idle:
            return now
        offers = []
        for v in range(len(free)):
            if not queued[v]:
                continue
            entry = queued[v][-1]
            behind = len(queued[v]) > 1 or free[v] > now  # the worker is on an earlier request
            if behind and not entry[2] and not any(started[j] for j in entry[1]):
                offers.append((sum(1 for e in queued[v] for j in e[1] if not started[j]), v))
        offers.sort(key=lambda offer: -offer[0])
        for w, (_, v) in zip(idle, offers):
            tasks = queued[v].pop()[1]
            now = write(w, tasks, now + oh.message)  # a claim to the giver, the request to the taker
        return now

    def take_in(until: float) -> float:
        """Take in the results that arrived by ``until``, and commit what can be; the clock after."""
        clock = until
        while arrivals and arrivals[0][0] <= clock:
            done[heappop(arrivals)[1]] = True
            clock += oh.commit
        return commit_ready(clock)

    def commit_ready(clock: float) -> float:
        """Once the list is entered, commit every transaction whose result is in
        and whose predecessors are committed; the clock after."""
        nonlocal committed
        if preparing:
            return clock
        while committed < n and done[committed]:
            committed += 1
            clock += oh.commit_in_order
        return clock

    while True:
        for w in range(len(free)):
            advance(w, now)
        for _ in range(QUEUE):  # top every worker up, a chunk each per round, as the engine
            for w in range(len(free)):
                if len(queued[w]) < QUEUE:
                    tasks = plan.take_chunk()
                    if tasks:
                        now = write(w, tasks, now)
        if preparing:  # a step of its preparation, between rounds of handing out work
            now = take_in(now + preparing.popleft())
            continue
        now = take_in(now)
        met = plan.front >= plan.back
        if met:  # the ends have met: queued work moves to workers with none
            for w in range(len(free)):
                advance(w, now)
            now = move_to_idle(now)
        while plan.front < n and started[order[plan.front]]:
            plan.front += 1
        if plan.front == n:
            break
        own = plan.take_own()  # its own, or a claim
        for j in own:  # executed here
            if met and any(j in request[1] for requests in queued for request in requests):
                now += oh.message  # claimed from the worker that holds it
            started[j] = True
            now += t[j]
            done[j] = True
        here += len(own)
        now = commit_ready(now)
    for w in range(len(free)):
        advance(w, INF)
    while arrivals:  # waiting for the rest
        arrival, j = heappop(arrivals)
        done[j] = True
        now = commit_ready(max(now, arrival) + oh.commit)
    return ModelRun(max([now, *free]) + n * oh.settle, here, blocks_written=True)


# per engine (a strategy's ``engine``), its model: (strategy class, profile, workers, overheads) -> ModelRun
MODELS = {"serial": None, "occ": _occ_model, "mv-run": _mv_run_model, "all-at-once": _all_at_once_model}
