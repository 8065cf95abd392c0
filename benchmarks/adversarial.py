"""Every strategy on the adversarial workloads (issue 18), timed against serial in
one run: `make bench-adversarial`.

Each target is loaded once; each configuration (a strategy with its knowledge:
none, pre-execution, an exact list, a list that hides the dependencies) runs it
``--repeat`` times after an untimed warm-up, the configurations taking turns in
each round (reversed every other round), as ``parexec bench`` does. Every
outcome must equal serial's. Printed: each configuration's median time over
serial's, as time ratios (the issue's bound: at most 1.15) with the counters of
its last run, and the worst ratio; ``--json`` writes every run.

    .venv/bin/python benchmarks/adversarial.py --repeat 5 --json build/bench-adversarial.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from parexec.access.access_list import GivenLists
from parexec.access.eip7928_builder import build_access_list
from parexec.access.footprint import Footprint
from parexec.block.pipeline import execute_block, no_cyclic_gc
from parexec.fixtures.targets import fresh_block, load_targets
from parexec.strategies import DECLARED, get_strategy
from parexec.workloads.adversarial import hide_dependencies, hide_storage_changes

# sizes where serial takes about 0.1 s on the 2-core host
TARGETS = ["onewrite:txs=500", "coinbase:txs=500", "redeploy:txs=300", "redelegate:txs=500",
           "abortonce:txs=500", "chain:txs=500"]
HIDDEN = ("chain:txs=500", "abortonce:txs=500")  # also run with lists that hide their chains
BOUND = 1.15


def configurations(target, hidden: bool) -> dict:
    serial = execute_block(target.block, target.pre_state, get_strategy("serial"), 1)
    exact = GivenLists([Footprint.of_result(r) for r in serial.tx_results],
                  build_access_list(target.block, target.pre_state))
    out = {"serial": get_strategy("serial"), "occ": get_strategy("occ"),
           "block-stm": get_strategy("block-stm")}
    for name in DECLARED:
        out[f"{name} predict"] = get_strategy(name, predict=True)
        out[f"{name} list"] = get_strategy(name, hints=exact)
    out["bal list"] = get_strategy("bal", hints=exact)
    if hidden:
        wrong = GivenLists(hide_dependencies(exact.footprints), hide_storage_changes(exact.eip7928))
        for name in DECLARED:
            out[f"{name} hidden"] = get_strategy(name, hints=wrong)
        out["bal hidden, fallback"] = get_strategy("bal", hints=wrong, fallback=True)
    return out


def bench(target, configs: dict, workers: int, repeat: int) -> list[dict]:
    reference = execute_block(target.block, target.pre_state, configs["serial"], 1)
    for name, strategy in configs.items():  # warm-up: start workers, ship the pre-state
        if name != "serial":
            execute_block(target.block, target.pre_state, strategy, workers)
    names = list(configs)
    times = {name: [] for name in names}
    stats = {}
    for round_no in range(repeat):
        for name in names if round_no % 2 == 0 else names[::-1]:
            w = 1 if name == "serial" else workers
            block = fresh_block(target.block)
            with no_cyclic_gc():
                started = time.perf_counter()
                outcome = execute_block(block, target.pre_state, configs[name], w, with_state_root=False)
                times[name].append(time.perf_counter() - started)
            diff = reference.first_difference(outcome)
            if diff:
                sys.exit(f"{target.name}: {name} differs from serial in {diff}")
            stats[name] = outcome.stats
    serial = statistics.median(times["serial"])
    return [{"target": target.name, "config": name, "seconds": statistics.median(times[name]),
             "ratio": statistics.median(times[name]) / serial, "runs": times[name],
             "reexecutions": stats[name].reexecutions, "counters": stats[name].counters(), "hints": stats[name].hints,
             "gave_up": stats[name].gave_up} for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", default=TARGETS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for target in load_targets(args.targets):
        configs = configurations(target, target.name in HIDDEN)
        found = bench(target, configs, args.workers, args.repeat)
        rows += found
        print(f"\n{target.name} ({len(target.block.transactions)} txs), serial "
              f"{found[0]['seconds'] * 1000:.0f} ms; time over serial's, {args.workers} workers, "
              f"median of {args.repeat}:")
        for row in found[1:]:
            flag = "  SLOW" if row["ratio"] > BOUND else ""
            counters = ", ".join(f"{k} {v}" for k, v in row["counters"].items() if v)
            counters = f"re-executions {row['reexecutions']}" + (", gave up" if row["gave_up"] else "") + \
                (f", {counters}" if counters else "")
            print(f"  {row['config']:<24} {row['ratio']:5.2f}{flag}  [{row['hints'] or ''}] {counters}")
    worst = max((r for r in rows if r["config"] != "serial"), key=lambda r: r["ratio"])
    print(f"\nworst: {worst['config']} on {worst['target']}, {worst['ratio']:.2f}x serial's time "
          f"(bound {BOUND})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
