"""Benchmarks: every strategy on the same blocks in one process tree, as ratios.

For each target the block is loaded once; each strategy (serial always
included, as the reference) then runs it ``repeat`` times, the strategies
taking turns in each round so that machine noise spreads evenly. Each run gets
freshly decoded transactions, so sender recovery is timed. One untimed
warm-up run per strategy comes first (it starts the worker processes and ships
them the pre-state, which a long-running node does once). ``seconds`` is the
median, ``speedup`` the serial median divided by this median, both from the
same run. Every outcome is compared with serial's (receipts, gas, logs bloom,
receipts root, the whole state diff); a difference is an error. The timed runs
leave out the state root, which every strategy computes the same way, serially,
after execution; the untimed reference run computes it.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from parexec import __version__
from parexec.block.pipeline import execute_block
from parexec.fixtures.discover import DumpCase, find_cases
from parexec.model import FixtureError
from parexec.strategies import get_strategy
from parexec.workloads import build_workload, is_workload_spec


class BenchMismatch(Exception):
    """A strategy's outcome differs from serial execution."""


@dataclass
class Target:
    name: str
    block: object
    pre_state: object


def load_targets(specs: list[str]) -> list[Target]:
    targets = []
    for spec in specs:
        if is_workload_spec(spec):
            block, pre = build_workload(spec)
            targets.append(Target(spec, block, pre))
            continue
        for case in find_cases([Path(spec)]):
            if not isinstance(case, DumpCase):
                raise FixtureError(
                    f"{spec}: bench runs single blocks (mainnet or Prague dumps) and workloads, "
                    f"not ethereum/tests chains ({case.name})"
                )
            block, pre, _ = case.load()
            targets.append(Target(case.name, block, pre))
    return targets


def fresh_block(block):
    """The same block with newly decoded transaction objects: py-evm caches the
    recovered sender on a transaction, and each timed run must recover it again,
    as it would for a block just received."""
    import rlp

    from parexec.fixtures.transactions import set_known_sender

    builder = block.vm_class.get_transaction_builder()
    txs = []
    for tx in block.transactions:
        if hasattr(builder, "decode"):
            new = builder.decode(tx.encode())
        else:
            new = rlp.decode(rlp.encode(tx), sedes=builder)
        if block.senders_given:
            set_known_sender(new, tx.sender)
        txs.append(new)
    return replace(block, transactions=txs)


# per-strategy counters reported beside the timings (declared-access strategies)
COUNTERS = ("lock_waits", "mispredictions", "dependencies", "pre_executions")


def bench_target(target: Target, strategies: list[str], workers: int, repeat: int, on_run=None, hints=None):
    names = ["serial"] + [s for s in strategies if s != "serial"]
    instances = {name: get_strategy(name, hints=hints) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    last_stats: dict[str, dict] = {}
    reference = execute_block(target.block, target.pre_state, instances["serial"], 1)
    for name in names[1:]:  # warm-up: start workers, ship the pre-state
        execute_block(target.block, target.pre_state, instances[name], workers)
    for round_no in range(repeat):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            w = 1 if name == "serial" else workers
            block = fresh_block(target.block)
            started = time.perf_counter()
            outcome = execute_block(block, target.pre_state, instances[name], w, with_state_root=False)
            times[name].append(time.perf_counter() - started)
            diff = reference.first_difference(outcome)
            if diff:
                raise BenchMismatch(f"{target.name}: {name} with {w} workers differs from serial in {diff}")
            last_stats[name] = outcome.stats
            if on_run:
                on_run()
    serial_median = statistics.median(times["serial"])
    rows = []
    for name in names:
        median = statistics.median(times[name])
        stats = last_stats[name]
        rows.append({
            "target": target.name,
            "strategy": name,
            "workers": 1 if name == "serial" else workers,
            "txs": len(target.block.transactions),
            "gas": reference.gas_used,
            "seconds": median,
            "speedup": serial_median / median,
            "reexecutions": stats.get("reexecutions", 0),
            "runs": times[name],
            "mode": stats.get("mode", "serial"),
            "counters": {k: stats[k] for k in COUNTERS if k in stats},
        })
    return rows


def machine_info() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "parexec": __version__,
    }


def geometric_mean(values) -> float:
    values = list(values)
    return statistics.geometric_mean(values) if values else float("nan")
