"""Benchmarks: every strategy on the same blocks in one process tree, as ratios.

For each target the block is loaded once; each strategy (serial always
included, as the reference) then runs it ``repeat`` times, the strategies
taking turns in each round so that machine noise spreads evenly. Each run gets
freshly decoded transactions, so sender recovery is timed. One untimed
warm-up run per strategy comes first (it starts the worker processes and ships
them the pre-state, which a long-running node does once). ``seconds`` is the
median, ``speedup`` the serial median divided by this median, both from the
same run; ``round_speedups`` each round's own ratio (serial's run over the
strategy's, in that round), whose spread shows how far the machine's noise
moves a single ratio. The garbage a run leaves is collected after its clock stops, as a
node collects between blocks (inside, collecting everything a block allocated
took 3-8 ms of a 0.3 s block, once 40 ms). Every outcome is compared with
serial's (receipts, gas, logs bloom, receipts root, the whole state diff); a
difference is an error. The timed runs leave out the state root, which every
strategy computes the same way, serially, after execution; the untimed
reference run computes it. ``peak_rss`` is each process's peak resident memory
in a strategy's timed runs (the largest over them; parexec.peak_memory): the
coordinator's, and each worker process's for a parallel strategy.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict

from parexec import __version__
from parexec.block.pipeline import execute_block, no_cyclic_gc
from parexec.fixtures.targets import Target, fresh_block
from parexec.model import RunStats
from parexec.peak_memory import PeakMemory, read_peaks, reset_peaks
from parexec.strategies import get_strategy


class BenchMismatch(Exception):
    """A strategy's outcome differs from serial execution."""


def bench_target(target: Target, strategies: list[str], workers: int, repeat: int, on_run=None,
                 hints=None, predict: bool = False, redo: str | None = None) -> list[dict]:
    """A row per strategy (serial first): ``run_row`` with ``seconds`` the median
    of ``repeat`` timed runs, ``speedup`` serial's median over it, ``runs`` every
    run's time (in round order), ``round_speedups`` each round's serial run over
    this strategy's, ``coordinator_executions`` the median of the executions the
    coordinator did itself, ``peak_rss`` the processes' peak memory in bytes. Raises BenchMismatch if an outcome differs from serial's."""
    names = ["serial"] + [s for s in strategies if s != "serial"]
    instances = {name: get_strategy(name, hints=hints, predict=predict, redo=redo) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    here: dict[str, list[int]] = {name: [] for name in names}  # the coordinator's own executions, per run
    last_stats: dict[str, RunStats] = {}
    peaks = {name: PeakMemory() for name in names}
    reference = execute_block(target.block, target.pre_state, instances["serial"], 1)
    for name in names[1:]:  # warm-up: start workers, ship the pre-state
        execute_block(target.block, target.pre_state, instances[name], workers)
    for round_no in range(repeat):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            w = 1 if name == "serial" else workers
            block = fresh_block(target.block)
            reset_peaks(workers=w > 1)
            with no_cyclic_gc():  # what the run leaves is collected once the clock has stopped
                started = time.perf_counter()
                outcome = execute_block(block, target.pre_state, instances[name], w, with_state_root=False)
                times[name].append(time.perf_counter() - started)
            peaks[name] = peaks[name].merge(read_peaks(workers=w > 1))
            diff = reference.first_difference(outcome)
            if diff:
                raise BenchMismatch(f"{target.name}: {name} with {w} workers differs from serial in {diff}")
            last_stats[name] = outcome.stats
            here[name].append(outcome.stats.coordinator_executions)
            if on_run:
                on_run()
    serial_median = statistics.median(times["serial"])
    rows = []
    for name in names:
        median = statistics.median(times[name])
        rows.append({**run_row(target, name, workers, reference.gas_used, last_stats[name]),
                     "seconds": median, "speedup": serial_median / median, "runs": times[name],
                     "round_speedups": [s / t for s, t in zip(times["serial"], times[name])],
                     "coordinator_executions": statistics.median(here[name]),
                     "peak_rss": peaks[name].to_json()})
    return rows


def run_row(target: Target, strategy: str, workers: int, gas_used: int, stats: RunStats) -> dict:
    """What one run of ``strategy`` did on ``target``, as a JSON-ready row."""
    return {
        "target": target.name,
        "strategy": strategy,
        "workers": 1 if strategy == "serial" else workers,
        "txs": len(target.block.transactions),
        "gas": gas_used,
        "seconds": stats.seconds,
        "mode": stats.mode,
        "executions": stats.executions,
        "coordinator_executions": stats.coordinator_executions,
        "reexecutions": stats.reexecutions,
        "counters": stats.counters(),
        "hints": stats.hints,  # where a declared strategy's or bal's knowledge came from
        "redo": None if stats.redo is None else {**asdict(stats.redo), "saved_seconds": stats.redo.saved_seconds()},
    }


def machine_info() -> dict:
    """What a measurement ran on: cores, Python, the platform, and the versions of
    parexec and of the libraries its results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    info = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "parexec": __version__,
    }
    for package in ("py-evm", "coincurve", "lmdb"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = "not installed"
    return info


def geometric_mean(values) -> float:
    values = list(values)
    return statistics.geometric_mean(values) if values else float("nan")
