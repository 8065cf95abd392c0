"""The simulator's overhead constants (analysis.simulator.Overheads), measured
on this machine with the real engines.

* ``ipc`` and ``start``: a probe runs a block on the real worker pool: how much
  longer a one-transaction task takes round trip than the transaction itself,
  and how long handing a worker the block takes, with what its first task takes
  beyond a later one.
* ``send`` and ``send_byte``: writing a message to one more worker's pipe (a
  worker's block, with its first request; bal's with its list), per message
  and per byte, timed directly on the engine's own write
  (worker_pool.write_within) to a pipe a process drains; the probe above hands
  the block to one worker, with no list.
  bal's ``message`` (a chunk of work or a claim written to a worker while the
  transactions run) is the same write.
* ``contention`` and ``view``: how much slower transactions execute inside the
  engine beside one another than the same engine alone (processes share caches
  and memory bandwidth), and how much slower alone than in serial execution
  (the engine's memory: bal's list, entered whole), timed directly: traced runs
  of bal on two processes and on one against serial ones, in turns. bal's model
  takes each simulated block's own ``view`` (``with_list_load``).
* ``list_index``, ``list_load``: per transaction, indexing the accounts of a
  block's EIP-7928 list (every process) and decoding and entering it whole (the
  coordinator; ``with_list_load`` times the latter on each simulated block's own
  list, which the model charges in its place); ``enter_account``, ``enter_location``, ``enter_change``: a
  worker decoding and entering an account when a transaction first touches it,
  per account and per location and change the list holds for it, fitted over
  entering timed where it happens, amid a worker's executions (bal).
* ``stage``: per transaction, staging the post-state a block's list gives
  (bal's coordinator, while the workers run), timed directly.
* ``result_check``: per transaction, holding a result to the list where it was
  executed and encoding it for the pipe, timed directly (bal).
* ``commit`` and ``execution``, per strategy: the coordinator's cost per
  transaction (validation, applying writes, bookkeeping, taking results in) and
  the cost of an execution wherever it runs, beyond the contention (handing it
  over, the engine's bookkeeping around it), differ between engines and are not
  visible from outside, so they are fitted, on calibration targets (synthetic
  workloads, not the blocks they are checked on), to two measurements at this
  machine's worker count: the speedup, and how many of the transactions the
  coordinator executed itself (``RunStats.coordinator_executions``). The speedup
  alone cannot tell the two costs apart: a cost on the coordinator moves
  transactions to the workers, a cost on every execution does not, and
  the engines show which.
* bal's ``commit``, ``commit_in_order`` and ``settle`` are timed instead, in its
  engine, in the very runs its speedups are measured on
  (parallel.coordinator_time): what its coordinator spends per result it takes
  in from a worker (less a ``send`` for each message it wrote to one: at 32
  workers chunks are smaller, so there are more messages per result), per
  transaction it commits in block order, and per transaction once every result
  is in and committed. Its coordinator executes nearly the same share of
  every calibration target whatever the split, so the fit could not tell its
  two costs apart: the fitted commit came out anywhere between 0 and 25 us,
  and the prediction at 32 workers, where the coordinator sets the limit, moved
  with it. Only bal's execution cost is fitted, to its speedups.

Declared-access strategies are simulated with exact access lists, so they are
measured with them too (``ExactHints``: the footprints of the serial profile).
A calibration is saved as JSON and reused (``load_or_calibrate``).
"""

from __future__ import annotations

import json
import multiprocessing
import pickle
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from itertools import combinations
from pathlib import Path

from parexec.analysis.block_profile import BlockProfile, profile_block
from parexec.analysis.simulator import Overheads, simulate, simulate_run
from parexec.benchmarking import bench_target, machine_info
from parexec.block.pipeline import execute_block
from parexec.fixtures.targets import Target, fresh_block, load_targets
from parexec.parallel import coordinator_time
from parexec.parallel.worker_pool import open_block
from parexec.strategies.base import ParallelStrategy
from parexec.strategies.serial import SerialStrategy

# blocks of 0.1-0.4 s: on smaller ones (300, 300 and 100 transactions) a fitted cost
# moved threefold between calibrations minutes apart
CALIBRATION_TARGETS = ("erc20:txs=1000", "transfers:txs=1000,hot=0.2", "chain:txs=300")
# a saved calibration's format: 2 since bal's commit and settle are timed in its engine
# (before, its commit was fitted and its settle timed outside the engine), 3 since bal
# commits in block order as results come in (before, its settle held the whole commit):
# an older file is stale; 4 since a block's start counts handing it to every worker (send,
# send_byte); 5 since contention is timed against the engine alone, and the engine's
# memory apart (view), and bal's cost per result taken in leaves out the messages to the
# workers (send each); 6 since a block's start leaves out the round trip's ipc the models
# charge on its first task's result anyway
VERSION = 6


@dataclass
class Calibration:
    base: Overheads  # ipc, start, contention and bal's list costs, shared by every strategy
    commits: dict[str, float]  # per strategy, the coordinator's seconds per transaction
    executions: dict[str, float] = field(default_factory=dict)  # per strategy, seconds per execution
    # per strategy, what the costs were fitted to: per calibration target, the measured
    # speedup and the executions the coordinator did itself (saved for the record)
    measured: dict[str, dict[str, dict]] = field(default_factory=dict)

    def overheads(self, strategy: str) -> Overheads:
        return replace(self.base, commit=self.commits[strategy], execution=self.executions.get(strategy, 0.0))


class _PoolProbe(ParallelStrategy):
    """Runs the block serially, but first times the pool: start and single-task round trips."""

    name = "probe"

    def __init__(self, tasks: int):
        super().__init__(2)
        self.tasks = tasks
        self.start_seconds = 0.0
        self.round_trips: list[tuple[int, float]] = []

    def run_parallel(self, env, block, state, workers):
        started = time.perf_counter()
        pool, _ = open_block(block, state, workers)
        self.start_seconds = time.perf_counter() - started
        for j in range(min(self.tasks, len(block.transactions))):
            sent = time.perf_counter()
            pool.submit(pool.workers[0], [j], chain=False)
            while pool.workers[0].requests:
                pool.collect(None)
            self.round_trips.append((j, time.perf_counter() - sent))
        pool.drain()
        return SerialStrategy().run_transactions(env, block, state, 1)


class ExactHints:
    """Access lists from serial profiles, as declared-access strategies take hints,
    and EIP-7928 lists, as bal takes them (built when first asked for)."""

    def __init__(self, targets: list[Target], profiles: list[BlockProfile]):
        # by header hash, as lists on disk are found (a synthetic block's header
        # carries its transactions' root), and as cheaply: the lookup is timed
        self.footprints = {t.block.header.hash: [tx.footprint for tx in p.txs] for t, p in zip(targets, profiles)}
        self.targets = {t.block.header.hash: t for t in targets}
        self.lists: dict = {}

    def footprints_for(self, block):
        return self.footprints.get(block.header.hash)

    def eip7928_for(self, block):
        from parexec.access.eip7928_builder import build_access_list

        key = block.header.hash
        if key not in self.lists and key in self.targets:
            target = self.targets[key]
            self.lists[key] = build_access_list(target.block, target.pre_state)
        return self.lists.get(key)


def measure_pool(target: Target, profile: BlockProfile, tasks: int = 20, probes: int = 7) -> tuple[float, float]:
    """(start, ipc) seconds, medians over ``probes`` probes. ``ipc``: the extra
    time of the later one-task round trips; ``start``: handing out the block,
    and what the first task takes beyond a later one (the worker sets up the
    block first; the models charge its round trip's ``ipc`` as every other),
    one a probe (with three, it came out 204-522 us in calibrations an hour
    apart)."""
    probe = _PoolProbe(tasks)
    execute_block(target.block, target.pre_state, probe, 2, with_state_root=False)  # warm
    firsts, extra = [], []
    for _ in range(probes):
        probe.round_trips = []
        execute_block(target.block, target.pre_state, probe, 2, with_state_root=False)
        (first, first_trip), *later = probe.round_trips
        firsts.append((probe.start_seconds, first_trip - profile.txs[first].seconds))
        extra += [rt - profile.txs[j].seconds for j, rt in later]
    ipc = max(0.0, statistics.median(extra))
    return statistics.median(opened + max(0.0, first - ipc) for opened, first in firsts), ipc


def measure_sending(small: int = 2_000, large: int = 128_000, probes: int = 41) -> tuple[float, float]:
    """(send, send_byte): seconds to write one message to a worker's pipe, and per
    byte of it, from the medians of ``probes`` writes of ``small`` and of ``large``
    bytes, in turns, with the engine's own write (worker_pool.write_within) to a
    socket pair whose other end a child process drains, as a worker reads."""
    from parexec.parallel.worker_pool import write_within

    ours, theirs = socket.socketpair()
    child = multiprocessing.get_context("fork").Process(target=_drain, args=(theirs,), daemon=True)
    child.start()
    theirs.close()
    took: dict[int, list[float]] = {small: [], large: []}
    try:
        for _ in range(probes):
            for size in (small, large):
                frame = bytes(size)
                began = time.perf_counter()
                write_within(ours, frame, 10.0)
                took[size].append(time.perf_counter() - began)
                time.sleep(0.001)  # drained before the next
    finally:
        ours.close()
        child.join(timeout=5)
    per_byte = max(0.0, (statistics.median(took[large]) - statistics.median(took[small])) / (large - small))
    return max(0.0, statistics.median(took[small]) - small * per_byte), per_byte


def _drain(sock) -> None:
    while sock.recv(1 << 20):
        pass


def measure_list_costs(target: Target, profile: BlockProfile, encoded: bytes,
                       repeat: int = 3) -> tuple[float, float, tuple[float, float, float]]:
    """bal's ways into a block's EIP-7928 list (``encoded``; parallel.list_memory),
    each from the medians of ``repeat`` times: per transaction, indexing its
    accounts (every process) and decoding and entering it whole (the
    coordinator: rules, counts); and a worker's entering of an account when a
    transaction first touches it, timed where it happens (the transactions of
    one of two workers executed on a list entered as they read it, each entry
    timed): seconds per account, per location and per change the list holds for
    it (as analysis.simulator.list_entries counts them), fitted over those
    accounts. Entering amid executions costs about twice what the same
    accounts cost entered one after another."""
    from parexec.analysis.simulator import ListSize, list_entries

    n = len(target.block.transactions)
    index, whole, each = [], [], {}
    for _ in range(repeat):
        indexing, entering = _list_times(target, encoded)
        index.append(indexing)
        whole.append(entering)
        for address, seconds in _entering_in_place(target, encoded, range(0, n, 2)).items():
            each.setdefault(address, []).append(seconds)
    _, sizes = list_entries(profile)
    rows = [(1.0, *sizes.get(a, ListSize(0, 0))) for a in each]
    costs = fit_nonnegative(rows, [statistics.median(t) for t in each.values()])
    return statistics.median(index) / n, statistics.median(whole) / n, costs


def _list_times(target: Target, encoded: bytes) -> tuple[float, float]:
    """Seconds to index the accounts of ``target``'s list ``encoded``, and then to
    decode and enter it whole, as bal's coordinator does."""
    from parexec.parallel.list_memory import ListMemory
    from parexec.state.overlay import OverlayState

    started = time.perf_counter()
    memory = ListMemory(OverlayState(target.pre_state), encoded, len(target.block.transactions))
    indexed = time.perf_counter()
    memory.enter_all()
    return indexed - started, time.perf_counter() - indexed


def with_list_load(target: Target, profile: BlockProfile, repeat: int = 3,
                   encoded: bytes | None = None) -> BlockProfile:
    """``profile`` with bal's costs on the block's own exact EIP-7928 list
    (``encoded``, else built here from a serial run) measured: ``list_load``, the
    seconds its coordinator takes to decode and enter it whole (median of
    ``repeat``); ``list_view``, how much slower the transactions execute on it
    than in serial execution (``measure_list_view``); and its size
    (``list_bytes``: what the coordinator writes to every worker). Both costs
    follow the block (the load its list's accounts, locations and changes: on the
    shared mainnet blocks 5-35 us a transaction; the view its reads), which no
    one cost per transaction matches, so the model takes each block's own. A
    block its serial run rejects keeps ``profile`` as it is."""
    from parexec.access.eip7928_builder import build_access_list
    from parexec.model import BlockRejected

    if encoded is None:
        try:
            encoded = build_access_list(fresh_block(target.block), target.pre_state).encode()
        except BlockRejected:
            return profile
    return replace(profile, list_load=statistics.median(_list_times(target, encoded)[1] for _ in range(repeat)),
                   list_view=measure_list_view(target, encoded, repeat), list_bytes=len(encoded))


def measure_list_view(target: Target, encoded: bytes, repeat: int = 3) -> float | None:
    """How much slower ``target``'s transactions execute on bal's memory of its
    list ``encoded`` (entered whole, one process: every read goes through the
    list's values before the state) than in serial execution: the median over
    ``repeat`` turns of a traced bal run's execution time over a serial run's,
    less 1 (None for a block without transactions)."""
    from parexec.access.eip7928 import EncodedList
    from parexec.strategies.bal import BalStrategy

    if not target.block.transactions:
        return None
    listed = EncodedList(encoded, "the block's exact list")

    class TheList:  # bal's hints: this block's list
        def eip7928_encoded_for(self, block):
            return listed

    serial, bal = SerialStrategy(time_transactions=True), BalStrategy(hints=TheList())
    ratios = []
    for _ in range(repeat):
        serial_seconds, alone = _serial_and_alone(target, serial, bal)
        ratios.append(alone / serial_seconds)
    return statistics.median(ratios) - 1


def _serial_and_alone(target: Target, serial: SerialStrategy, bal) -> tuple[float, float]:
    """One turn: the seconds ``target``'s transactions take in serial execution
    (``serial`` times each), then on ``bal``'s one process (traced)."""
    outcome = execute_block(fresh_block(target.block), target.pre_state, serial, 1, with_state_root=False)
    return sum(outcome.stats.tx_seconds), _traced_seconds(target, bal, 1)[0]


def _entering_in_place(target: Target, encoded: bytes, txs) -> dict[bytes, float]:
    """Seconds each account took to enter while ``txs`` executed, as a worker's
    would, on a memory of the list ``encoded`` that enters what they read."""
    from parexec.block.system import block_start
    from parexec.parallel.list_memory import ListMemory
    from parexec.parallel.worker import iter_tasks

    took: dict[bytes, float] = {}

    class TimedMemory(ListMemory):
        def _enter(self, address):
            started = time.perf_counter()
            super()._enter(address)
            took[address] = time.perf_counter() - started

    block = fresh_block(target.block)
    env, state = block_start(block, target.pre_state)
    for _outcome in iter_tasks(env, block.transactions, TimedMemory(state, encoded, len(block.transactions)), txs,
                               chain=False):
        pass
    return took


def fit_nonnegative(rows: list[tuple[float, ...]], ys: list[float]) -> tuple[float, ...]:
    """The coefficients c of the least-squares fit y = sum(c[k] * row[k]), none
    below zero: of the fits on each subset of the columns, the closest whose
    coefficients are all at least zero (the rest zero). A column of ones gives a
    constant."""
    width = len(rows[0])
    best, best_error = (0.0,) * width, sum(y * y for y in ys)
    for size in range(1, width + 1):
        for columns in combinations(range(width), size):
            solved = _least_squares([[row[k] for k in columns] for row in rows], ys)
            if solved is None or min(solved) < 0:
                continue
            coefficients = [0.0] * width
            for k, value in zip(columns, solved):
                coefficients[k] = value
            error = sum((y - sum(c * x for c, x in zip(coefficients, row))) ** 2 for row, y in zip(rows, ys))
            if error < best_error:
                best, best_error = tuple(coefficients), error
    return best


def _least_squares(rows: list[list[float]], ys: list[float]) -> list[float] | None:
    """The least-squares solution of rows @ c = ys (its normal equations, by
    Gaussian elimination), or None if the columns do not determine it."""
    width = len(rows[0])
    matrix = [[sum(row[i] * row[j] for row in rows) for j in range(width)]
              + [sum(row[i] * y for row, y in zip(rows, ys))] for i in range(width)]
    for i in range(width):
        pivot = max(range(i, width), key=lambda r: abs(matrix[r][i]))
        if abs(matrix[pivot][i]) <= 1e-12 * max(1.0, max(abs(v) for v in matrix[i][:width])):
            return None
        matrix[i], matrix[pivot] = matrix[pivot], matrix[i]
        for r in range(width):
            if r != i:
                factor = matrix[r][i] / matrix[i][i]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[i])]
    return [matrix[i][width] / matrix[i][i] for i in range(width)]


def entering_charge(profile: BlockProfile, txs, oh: Overheads) -> float:
    """What the model charges a worker that executes ``txs`` for entering the
    list's accounts they touch (each once), at ``oh``'s entering costs."""
    from parexec.analysis.simulator import entering_cost, list_entries

    touched, sizes = list_entries(profile)
    accounts = set().union(*(touched[j] for j in txs))
    return sum(entering_cost(sizes[a], oh) for a in accounts)


def measure_staging(target: Target, encoded: bytes, repeat: int = 3) -> float:
    """Seconds per transaction for bal's coordinator to stage the post-state its
    block's EIP-7928 list (``encoded``) gives, while the workers run (the median
    of ``repeat`` times)."""
    from parexec.parallel.list_memory import ListMemory
    from parexec.state.overlay import OverlayState

    memory = ListMemory(OverlayState(target.pre_state), encoded, len(target.block.transactions))
    memory.enter_all()  # entering is timed apart (measure_list_costs)
    times = []
    for _ in range(repeat):
        staged = None  # the last repeat's freed before the clock starts
        started = time.perf_counter()
        staged = OverlayState(OverlayState(target.pre_state))
        staged.apply(memory.final_writes())
        times.append(time.perf_counter() - started)
    return statistics.median(times) / len(target.block.transactions)


# shared overheads timed in bal's calibration runs (kept from a saved calibration when bal is not measured again)
BAL_TIMED = ("commit_in_order", "settle")


def coordinator_costs(runs: list[coordinator_time.CoordinatorTime], send: float = 0.0) -> dict[str, float] | None:
    """bal's commit, commit_in_order and settle costs, timed in its engine
    (parallel.coordinator_time) on one block's ``runs``: the medians of the
    coordinator's seconds per result it took in from a worker (beyond its own
    executions, its preparation, its commits and its waiting, and ``send`` for
    each message it wrote to a worker, which the model charges apart: at two
    workers a chunk holds up to 16 transactions, at 32 two to eight), per
    transaction it committed in block order, and per transaction once every
    result was in and committed; None if no run took a result in."""
    pooled = [r for r in runs if r.worker_results and r.txs]  # (txs: set once the run has ended well)
    if not pooled:
        return None
    return {"commit": statistics.median(max(0.0, r.taking_in - r.messages * send) / r.worker_results
                                        for r in pooled),
            "commit_in_order": statistics.median(r.commit / r.txs for r in pooled),
            "settle": statistics.median(r.finish / r.txs for r in pooled)}


def measure_result_check(target: Target, encoded: bytes, repeat: int = 3) -> float:
    """Seconds per transaction to hold a result to the block's list (``encoded``)
    where it was executed and encode it for the pipe, as a worker does
    (WorkerState.hold; the median of ``repeat`` times)."""
    import copy

    from parexec.access.eip7928_check import ListCheck
    from parexec.parallel.list_memory import ListMemory
    from parexec.parallel.protocol import DONE, RESULTS, encode_result
    from parexec.parallel.worker import WorkerState
    from parexec.state.overlay import OverlayState

    results = execute_block(fresh_block(target.block), target.pre_state, SerialStrategy(), 1,
                            with_state_root=False).tx_results
    memory = ListMemory(OverlayState(target.pre_state), encoded, len(results))
    memory.enter_all()  # entering is timed apart (measure_list_costs)
    times = []
    for _ in range(repeat):
        worker = WorkerState()  # the last repeat's freed before the clock starts
        worker.list_check = ListCheck(memory)
        fresh = [copy.copy(r) for r in results]  # a worker holds its results in place
        started = time.perf_counter()
        for j, result in enumerate(fresh):
            worker.hold(j, result)
        replies = [(DONE, j, encode_result(r)) for j, r in enumerate(fresh)]
        pickle.dumps((RESULTS, replies), protocol=pickle.HIGHEST_PROTOCOL)
        times.append(time.perf_counter() - started)
    return statistics.median(times) / len(results)


def measure_contention(target: Target, hints: "ExactHints", profile: BlockProfile, pairs: int = 5,
                       entering: Overheads = Overheads()) -> tuple[float, float]:
    """(contention, view): how much slower transactions execute inside the
    parallel engine, beside one another, than in the same engine alone, and how
    much slower alone than in serial execution. Per turn: a serial run with each
    transaction timed, a traced ``bal`` run on one process and one on two (every
    transaction executed once, on the block's exact list); the medians over
    ``pairs`` turns of the two-process engine's execution time over the
    one-process engine's, and of that over serial's. Measured apart (serial
    beside a busy serial process, then alone) contention drifted with the
    machine by as much as the effect (0% and 14% in two calibrations minutes
    apart) and missed what the engine adds (caches shared with the
    coordinator's own work: 4% on erc20:txs=1000 in the same run). Timed against
    serial alone it held the list's own read path too (``view``), which cost
    2.4% on erc20:txs=1000 and 0.9% on the median shared mainnet block (-2.8% to
    +3.3%; ``with_list_load`` times each block's). A worker's executions also
    enter the list's accounts they read first, which the model charges apart:
    what it charges for the transactions the worker executed (at ``entering``'s
    costs of entering, see measure_list_costs) is left out of the engine's
    time."""
    from parexec.strategies.bal import BalStrategy

    serial, bal = SerialStrategy(time_transactions=True), BalStrategy(hints=hints)
    execute_block(fresh_block(target.block), target.pre_state, bal, 2, with_state_root=False)  # warm
    beside_ratios, alone_ratios = [], []
    for _ in range(pairs):
        serial_seconds, alone = _serial_and_alone(target, serial, bal)
        beside, on_worker = _traced_seconds(target, bal, 2)
        beside_ratios.append((beside - entering_charge(profile, on_worker, entering)) / alone)
        alone_ratios.append(alone / serial_seconds)
    return max(0.0, statistics.median(beside_ratios) - 1), statistics.median(alone_ratios) - 1


def _traced_seconds(target: Target, strategy, workers: int) -> tuple[float, list[int]]:
    """The seconds ``strategy``'s executions of ``target``'s transactions took
    (traced, wherever they ran), and the transactions the workers executed, in
    the order they began."""
    from parexec.parallel import run_trace

    with run_trace.recording() as trace:
        execute_block(fresh_block(target.block), target.pre_state, strategy, workers, with_state_root=False)
    return (sum(span.end - span.start for span in trace.spans),
            [span.tx for span in sorted(trace.spans, key=lambda span: span.start)
             if span.process != run_trace.COORDINATOR])


def fit_commit(profiles: list[BlockProfile], measured: list[float], strategy: str, workers: int,
               base: Overheads) -> float:
    """The per-transaction coordinator cost at which the median of predicted over
    measured speedup is 1 (bisection: predictions fall as the cost grows; to
    10 ns)."""
    return _bisect(lambda commit: _speedup_ratio(profiles, measured, strategy, workers, replace(base, commit=commit)),
                   0.0, 0.005)


def _speedup_ratio(profiles: list[BlockProfile], measured: list[float], strategy: str, workers: int,
                   oh: Overheads) -> float:
    """The median of predicted over measured speedup."""
    return statistics.median(simulate(p, strategy, workers, oh) / m for p, m in zip(profiles, measured))


def fit_costs(profiles: list[BlockProfile], speedups: list[float], here: list[float], strategy: str,
              workers: int, base: Overheads, commit: float | None = None) -> tuple[float, float]:
    """(commit, execution): the coordinator's cost per transaction and the cost of
    an execution wherever it runs, at which the median of predicted over measured
    speedup is 1 and, as near as the two allow, so is the median of predicted
    over measured executions in the coordinator (``here``). For each execution
    cost the commit cost is fitted to the speedups (``fit_commit``); a higher
    execution cost leaves less to the coordinator, which then executes more
    itself: the execution cost is bisected between zero and the one that
    explains the speedups with no commit cost. ``commit``: timed in the engine
    (bal), only the execution cost is fitted, to the speedups."""
    if commit is not None:
        with_commit = replace(base, commit=commit)
        return commit, _bisect(lambda e: _speedup_ratio(profiles, speedups, strategy, workers,
                                                        replace(with_commit, execution=e)), 0.0, 0.005)
    def costs(execution: float) -> Overheads:
        oh = replace(base, execution=execution)
        return replace(oh, commit=fit_commit(profiles, speedups, strategy, workers, oh))

    def here_ratio(execution: float) -> float:
        oh = costs(execution)
        return statistics.median(simulate_run(p, strategy, workers, oh).coordinator_executions / max(h, 1.0)
                                 for p, h in zip(profiles, here))

    most = _bisect(lambda e: _speedup_ratio(profiles, speedups, strategy, workers, replace(base, execution=e)),
                   0.0, 0.005)  # all of it per execution
    if here_ratio(0.0) >= 1.0:
        execution = 0.0
    elif here_ratio(most) <= 1.0:
        execution = most
    else:
        execution = _bisect(lambda e: 2.0 - here_ratio(e), 0.0, most)  # falls as the execution cost grows
    return costs(execution).commit, execution


def _bisect(ratio: Callable[[float], float], low: float, high: float, tolerance: float = 1e-8) -> float:
    """Where ``ratio``, falling, crosses 1 between ``low`` and ``high`` (``low`` if
    it is at most 1 there already, ``high`` if still above it there)."""
    if ratio(low) <= 1.0:
        return low
    if ratio(high) > 1.0:
        return high
    while high - low > tolerance:
        mid = (low + high) / 2
        if ratio(mid) > 1.0:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def measure_speedups(target: Target, profile: BlockProfile, strategies: list[str], workers: int,
                     repeat: int = 3) -> dict[str, tuple[float, float]]:
    """Each strategy's measured speedup over serial on ``target`` (``bench``) and
    the median of the executions its coordinator did itself, the declared-access
    strategies with exact access lists, as they are simulated."""
    rows = bench_target(target, strategies, workers, repeat, hints=ExactHints([target], [profile]))
    return {r["strategy"]: (r["speedup"], r["coordinator_executions"]) for r in rows}


def calibrate(targets: list[Target], strategies: list[str], workers: int = 2, repeat: int = 3,
              on_step=None) -> Calibration:
    """Shared overheads (ipc, start, contention, bal's list costs) and each
    strategy's commit and execution costs: fitted, but for bal's commit (and
    settle), timed in its engine in the runs its speedups are measured on."""
    profiles = [profile_block(t, repeat) for t in targets]
    hints = ExactHints(targets, profiles)  # each list built once: for the list costs and bal's runs
    if "bal" in strategies:  # its costs fitted on the lists' own loads, as the blocks it predicts are simulated
        profiles = [with_list_load(t, p, repeat, hints.eip7928_for(t.block).encode())
                    for t, p in zip(targets, profiles)]
    biggest = max(range(len(targets)), key=lambda k: len(profiles[k].txs))
    start, ipc = measure_pool(targets[biggest], profiles[biggest])
    send, send_byte = measure_sending()
    encoded = hints.eip7928_for(targets[biggest].block).encode()
    list_index, list_load, (enter_account, enter_location, enter_change) = measure_list_costs(
        targets[biggest], profiles[biggest], encoded, repeat)
    entering = Overheads(enter_account=enter_account, enter_location=enter_location, enter_change=enter_change)
    contention, view = measure_contention(targets[biggest], hints, profiles[biggest], entering=entering)
    stage = measure_staging(targets[biggest], encoded, repeat)
    result_check = measure_result_check(targets[biggest], encoded, repeat)
    base = replace(entering, ipc=ipc, start=start, send=send, send_byte=send_byte, message=send,
                   contention=contention, view=view, list_index=list_index,
                   list_load=list_load, stage=stage, result_check=result_check)
    measured: dict[str, dict[str, dict]] = {s: {} for s in strategies}
    timed = []  # per target, bal's coordinator costs timed in the runs below
    for target in targets:
        with coordinator_time.recording() as runs:
            rows = bench_target(target, strategies, workers, repeat, hints=hints)
        for row in rows:
            if row["strategy"] in measured:
                measured[row["strategy"]][target.name] = {"speedup": row["speedup"],
                                                          "coordinator_executions": row["coordinator_executions"]}
        costs = coordinator_costs(runs, send)
        if costs is not None:
            timed.append(costs)
            measured["bal"][target.name]["timed"] = costs
        if on_step:
            on_step(target.name)
    bal_commit = None
    if "bal" in strategies:  # the median over the targets
        if not timed:
            raise ValueError("no bal run took a result in from a worker: nothing to time its coordinator on")
        bal_commit = statistics.median(costs["commit"] for costs in timed)
        base = replace(base, **{cost: statistics.median(costs[cost] for costs in timed) for cost in BAL_TIMED})
    fitted = {}
    for s in strategies:
        rows = [measured[s][t.name] for t in targets]
        fitted[s] = fit_costs(profiles, [r["speedup"] for r in rows], [r["coordinator_executions"] for r in rows],
                              s, workers, base, commit=bal_commit if s == "bal" else None)
    return Calibration(base, {s: c for s, (c, _) in fitted.items()}, {s: e for s, (_, e) in fitted.items()},
                       measured)


def save(path: Path, calibration: Calibration, machine: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": VERSION, "overheads": asdict(calibration.base), "commit": calibration.commits,
            "execution": calibration.executions, "measured": calibration.measured, "machine": machine}
    path.write_text(json.dumps(data, indent=1))


class StaleCalibration(ValueError):
    """A calibration saved by an older parexec: it lacks overheads the models use
    now, or holds ones they no longer use."""


def load(path: Path) -> Calibration:
    """A saved calibration; raises ValueError if the file is not one, and
    StaleCalibration if it lacks an overhead, holds one no longer used or was
    saved in an older format (VERSION)."""
    known = {f.name for f in fields(Overheads)}
    try:
        data = json.loads(path.read_text())
        saved = data["overheads"]
        overheads = Overheads(**{k: float(v) for k, v in saved.items() if k in known})
        calibration = Calibration(overheads, {k: float(v) for k, v in data["commit"].items()},
                                  {k: float(v) for k, v in data.get("execution", {}).items()},
                                  data.get("measured", {}))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a parexec calibration ({exc})") from None
    missing, unused = sorted(known - set(saved)), sorted(set(saved) - known)
    why = ([f"no {', '.join(missing)}"] if missing else []) + ([f"{', '.join(unused)} no longer used"] if unused else [])
    if data.get("version", 1) != VERSION:
        why.append(f"format {data.get('version', 1)}, not {VERSION}")
    if why:
        raise StaleCalibration(f"{path}: made by an older parexec ({'; '.join(why)})")
    return calibration


def load_or_calibrate(path: Path, strategies: list[str], recalibrate: bool = False, repeat: int = 3,
                      say: Callable[[str], None] = lambda _text: None) -> Calibration:
    """The calibration saved at ``path``, with what it lacks for ``strategies``
    (all of them with ``recalibrate``) measured now on the CALIBRATION_TARGETS
    and saved back. Raises ValueError for a file that is not a calibration,
    unless it is to be measured anew anyway."""
    saved = Calibration(Overheads(), {})
    if path.exists():
        try:
            saved = load(path)
        except StaleCalibration as exc:
            say(f"{exc}: measuring it anew")
            recalibrate = True
        except ValueError:
            if not recalibrate:
                raise
    todo = strategies if recalibrate else [s for s in strategies if s not in saved.commits]
    if not todo:
        return saved
    say(f"calibrating {', '.join(todo)} on this machine (synthetic workloads; a few minutes)...")
    fresh = calibrate(load_targets(list(CALIBRATION_TARGETS)), todo, repeat=repeat,
                      on_step=lambda name: say(f"  measured {name}"))
    base = fresh.base if "bal" in todo else replace(  # timed in bal's runs
        fresh.base, **{cost: getattr(saved.base, cost) for cost in BAL_TIMED})
    calibration = Calibration(base, {**saved.commits, **fresh.commits},
                              {**saved.executions, **fresh.executions}, {**saved.measured, **fresh.measured})
    save(path, calibration, machine_info())
    return calibration
