"""``parexec demo``: what parexec finds, measured on this machine in a few minutes.

Sections, each a list of JSON-ready rows the report (parexec.report.html_report)
draws: workloads across contention (every strategy against serial, same run);
the shared mainnet blocks (each verified, timed with occ, block-stm and bal, beside
its dependency bound and its list's); simulated speedups up to 64 workers on those blocks; their
hotspots; occ's schedule explained on a hot token and on the block where it
gained least; a short chain import, every state root checked. Every parallel outcome
is compared with serial's (bench raises BenchMismatch otherwise).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from parexec.analysis.block_analysis import analyze
from parexec.analysis.block_profile import profile_block
from parexec.benchmarking import bench_target, machine_info
from parexec.fixtures.targets import load_targets

WORKLOADS = ("transfers", "erc20", "amm", "nft", "mixed")
CONTENTION = (0.0, 0.5, 1.0)
# bal runs each block with its exact EIP-7928 list, written from a serial run first (untimed)
STRATEGIES = ("serial", "occ", "block-stm", "bal")
SIMULATED_STRATEGIES = ("occ", "block-stm", "bal")
SIMULATED_WORKERS = (1, 2, 4, 8, 16, 32, 64)
# Published speedups (design notes): (label, workers, speedup)
ANCHORS = (
    ("Block-STM paper, low contention", 32, 17.0),
    ("pevm, 85 mainnet blocks (mean)", 32, 2.02),
    ("Polygon bor Block-STM v2", 4, 1.6),
    ("ParallelEVM, mainnet (mean)", 32, 4.28),
    ("ParallelEVM with prefetching", 32, 7.11),
    ("Erigon, whole block with root", 16, 0.93),
)


@dataclass
class DemoSizes:
    txs: int = 300  # transactions per workload block
    repeat: int = 3
    blocks: int | None = None  # mainnet blocks (None: all Byzantium-on ones)
    chain: str = "erc20:txs=100,blocks=12,accounts=20000"


QUICK = DemoSizes(txs=60, repeat=1, blocks=3, chain="erc20:txs=20,blocks=3,accounts=500")


@dataclass
class DemoResult:
    machine: dict
    workloads: list[dict] = field(default_factory=list)
    blocks: list[dict] = field(default_factory=list)
    simulated: list[dict] = field(default_factory=list)
    hotspots: list[dict] = field(default_factory=list)
    chain: dict = field(default_factory=dict)
    schedules: list = field(default_factory=list)  # (target spec, analysis.schedule_explain.ExplainedRun)
    seconds: dict = field(default_factory=dict)  # section -> wall time
    calibrated: tuple = ()  # the simulated strategies whose overheads were calibrated here


def run_demo(data: Path | None, sizes: DemoSizes, workers: int = 2,
             progress: Callable[[str, int, int], None] = lambda _text, _done, _total: None) -> DemoResult:
    """Every section of the demo; ``progress`` is told what runs now, how many
    steps are done and how many there are."""
    result = DemoResult(machine_info())
    blocks = len(byzantium_blocks(data)[: sizes.blocks]) if data is not None else 0
    # the workloads, each mainnet block and the simulation, the runs explained, the chain
    total = len(WORKLOADS) * len(CONTENTION) + (blocks + 1 if data is not None else 0) + (2 if blocks else 1) + 1
    done = 0

    def step(text: str) -> None:
        nonlocal done
        progress(text, done, total)
        done += 1

    started = time.perf_counter()
    for name in WORKLOADS:
        for hot in CONTENTION:
            spec = f"{name}:txs={sizes.txs},hot={hot:g}"
            step(f"workload {spec}")
            for row in _bench(load_targets([spec])[0], workers, sizes.repeat):
                result.workloads.append({"workload": name, "hot": hot, **_slim(row)})
    result.seconds["workloads"] = time.perf_counter() - started
    if data is not None:
        started = time.perf_counter()
        profiles = _mainnet(data, sizes, workers, result, step)
        result.seconds["mainnet"] = time.perf_counter() - started
        started = time.perf_counter()
        _simulate(profiles, result, step)
        result.seconds["simulated"] = time.perf_counter() - started
    started = time.perf_counter()
    _schedules(data, sizes, workers, result, step)
    result.seconds["schedules"] = time.perf_counter() - started
    started = time.perf_counter()
    step(f"chain import {sizes.chain}")
    result.chain = _chain(sizes.chain)
    result.seconds["chain"] = time.perf_counter() - started
    progress("done", done, total)
    return result


def _bench(target, workers: int, repeat: int, listed=None) -> list[dict]:
    """bench_target with every STRATEGY, bal given the block's exact EIP-7928 list
    (``listed``, built here if not given)."""
    from parexec.access.access_list import GivenLists
    from parexec.access.eip7928_builder import build_access_list

    exact = GivenLists(eip7928=listed or build_access_list(target.block, target.pre_state))
    return bench_target(target, list(STRATEGIES), workers, repeat, hints=exact)


def _slim(row: dict) -> dict:
    return {k: row[k] for k in ("target", "strategy", "workers", "txs", "gas", "seconds", "speedup", "runs",
                                "reexecutions")}


def _repairs(redo: dict | None) -> tuple[int, int]:
    if not redo:
        return 0, 0
    return redo["repaired"], redo["repaired"] + sum(redo["fallbacks"].values())


def byzantium_blocks(data: Path) -> list[Path]:
    folder = data / "mainnet" / "blocks"
    return sorted((p for p in folder.iterdir() if p.name.isdigit() and int(p.name) >= 4_370_000),
                  key=lambda p: int(p.name))


def _mainnet(data: Path, sizes: DemoSizes, workers: int, result: DemoResult, step) -> list:
    """Each block verified against the chain, timed, and its bound and hotspots."""
    from parexec.access.eip7928_builder import build_access_list
    from parexec.calibration import with_list_load
    from parexec.fixtures.discover import mainnet_case
    from parexec.strategies import get_strategy

    profiles = []
    for path in byzantium_blocks(data)[: sizes.blocks]:
        step(f"mainnet block {path.name}")
        verdict = mainnet_case(path).run(get_strategy("serial"))
        target = load_targets([str(path)])[0]
        listed = build_access_list(target.block, target.pre_state)
        rows = _bench(target, workers, sizes.repeat, listed)
        profile = with_list_load(target, profile_block(target, repeat=1), repeat=1, encoded=listed.encode())
        summary, _ = analyze(profile, predict_nonces=True)
        profiles.append((profile, summary))
        result.blocks.append({
            "block": int(path.name), "txs": summary["txs"], "verified": verdict.status,
            "speedups": {r["strategy"]: r["speedup"] for r in rows},
            # occ's operation-level redo in its last timed run: stale results repaired, and all of them
            "occ_repairs": _repairs(next((r["redo"] for r in rows if r["strategy"] == "occ"), None)),
            "bound_critical_path": summary["parallelism_bound"],
            "bound_with_list": summary["list_bound"],
            "bound_workers": min(workers, summary["parallelism_bound"]),
            "list_bound_workers": min(workers, summary["list_bound"]),
            "independent_share": summary["independent_share"],
        })
        for hot in summary["hotspots"][:3]:
            result.hotspots.append({"block": int(path.name), **hot})
    return profiles


def _simulate(profiles: list, result: DemoResult, step) -> None:
    """Speedups on 1-64 virtual workers, with the overheads calibrated on this
    machine when a calibration is saved (``make simulate`` saves one), else the
    simulator's defaults."""
    from parexec.analysis.simulator import Overheads, predict
    from parexec.calibration import load

    step("simulating 1-64 workers")
    strategies = list(SIMULATED_STRATEGIES)
    calibrated: dict = {}
    try:
        calibration = load(Path("build/calibration.json"))
        calibrated = {s: calibration.overheads(s) for s in strategies if s in calibration.commits}
    except (OSError, ValueError, KeyError):
        pass
    result.calibrated = tuple(calibrated)

    def overheads(strategy):  # calibrated where the saved calibration covers it
        return calibrated.get(strategy, Overheads())

    by_key: dict[tuple[str, int], list[float]] = {}
    for profile, summary in profiles:
        for r in predict(profile, strategies, list(SIMULATED_WORKERS), overheads, summary["parallelism_bound"]):
            by_key.setdefault((r["strategy"], r["workers"]), []).append(r["predicted_speedup"])
    for (strategy, n), values in sorted(by_key.items()):
        result.simulated.append({"strategy": strategy, "workers": n, "median_speedup": statistics.median(values),
                                 "blocks": len(values)})


def _schedules(data: Path | None, sizes: DemoSizes, workers: int, result: DemoResult, step) -> None:
    """occ's run explained (``parexec explain``) on a token with a hot account and,
    with the mainnet blocks, on the block where occ gained least."""
    from parexec.analysis.schedule_explain import explain_target

    specs = [f"erc20:txs={sizes.txs},hot=0.5"]
    if result.blocks:
        worst = min(result.blocks, key=lambda b: b["speedups"]["occ"])
        specs.append(str(data / "mainnet" / "blocks" / str(worst["block"])))
    for spec in specs:
        step(f"explaining occ on {spec}")
        result.schedules.append((spec, explain_target(load_targets([spec])[0], "occ", workers)))


def _chain(spec: str) -> dict:
    """A synthetic chain imported end to end: serial one block at a time against
    occ pipelined (parexec.chain.bench), one run each."""
    from parexec.chain.bench import Config, bench_chain
    from parexec.workloads.synthetic_chain import build_chain

    made = build_chain(spec)
    results = bench_chain(made, [Config("serial", 1, False), Config("occ", 2, True)], repeat=1)
    serial, occ = (r.runs[0] for r in results)
    return {
        "spec": spec, "blocks": len(made.blocks), "accounts": len(made.pre.accounts),
        "configs": [{"name": r.config.name, "blocks_per_second": r.blocks_per_second[0],
                     "execution_ms": r.runs[0].execution / len(made.blocks) * 1000,
                     "state_root_ms": r.runs[0].state_root / len(made.blocks) * 1000,
                     "persistence_ms": r.runs[0].persistence / len(made.blocks) * 1000,
                     "peak_mb": r.runs[0].peak_mb} for r in results],
        "speedup": (occ.blocks / occ.seconds) / (serial.blocks / serial.seconds),
        "state_root_share": serial.state_root / serial.execution,
    }
