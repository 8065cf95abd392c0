"""`make bench-replay`: blocks/s of `parexec replay` in this process and on a
local Ray, in one run, runs alternating; every run's figure is printed.

Two set-ups: each block on 2 processes (serial, then occ: parallelism inside the
block) and each block on 1 process (serial only: Ray runs as many blocks at once
as there are CPUs). Ray's own start (a few seconds) is left out of its figures.

    python -m parexec.cluster.replay_bench [DATA] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from parexec.cluster.replay import replay_here, replay_on_ray
from parexec.fixtures.discover import find_cases

SETUPS = (("2 workers per block, serial + occ", 2, ["occ"]), ("1 worker per block, serial", 1, []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/data/mainnet")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = find_cases([Path(args.data)])
    for label, workers, strategies in SETUPS:
        figures: dict[str, list[float]] = {"here": [], "ray": []}
        for round_no in range(args.repeat):
            order = ("here", "ray") if round_no % 2 == 0 else ("ray", "here")
            for where in order:
                run = replay_here if where == "here" else replay_on_ray
                result = run(cases, strategies, workers)
                if result.count("failed"):
                    raise SystemExit(f"{where}: {result.summary()}")
                figures[where].append(result.blocks_per_second)
        here, ray = statistics.median(figures["here"]), statistics.median(figures["ray"])
        print(f"{label}, {len(cases)} blocks, {args.repeat} runs each")
        print(f"  this process: {here:.2f} blocks/s (runs: {', '.join(f'{f:.2f}' for f in figures['here'])})")
        print(f"  local Ray:    {ray:.2f} blocks/s (runs: {', '.join(f'{f:.2f}' for f in figures['ray'])})")
        print(f"  Ray / this process: {ray / here:.2f}x")


if __name__ == "__main__":
    main()
