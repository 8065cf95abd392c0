"""End-to-end chain import, timed: a synthetic chain imported from its genesis by
each configuration (strategy, workers, pipelined or not), every block's state
root checked, execution, root and persistence included.

Every run starts from a copy of the same genesis store, in a fresh process (so
its peak memory is its own), with its committer and worker processes up before
the clock starts. Configurations alternate within each repeat, so the ratios
compare runs made under the same conditions; every run's figure is kept.
Strategies that take access lists get every block's exact list (EIP-7928 for
bal, parexec's for the declared ones), written from a serial import before any
run, untimed; each run counts how the strategy ran its blocks.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Config:
    strategy: str
    workers: int
    pipeline: bool

    @property
    def name(self) -> str:
        return f"{self.strategy} w{self.workers}" + (" pipelined" if self.pipeline else "")


@dataclass
class Run:
    """One import of the whole chain."""

    seconds: float
    blocks: int
    gas: int
    execution: float
    state_root: float
    persistence: float
    rejected: list[str]
    peak_mb: dict[str, float]  # process -> peak resident memory (VmHWM), MB
    ran: str = ""  # a strategy that takes lists: how it ran the blocks (strategies.hint_tally)


@dataclass
class ConfigResult:
    config: Config
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    @property
    def blocks_per_second(self) -> list[float]:
        return [r.blocks / r.seconds for r in self.runs]


def default_configs(strategies: list[str], workers: int) -> list[Config]:
    """Serial one block at a time (the baseline) and pipelined; each parallel
    strategy at ``workers``, pipelined and not."""
    configs = [Config("serial", 1, False), Config("serial", 1, True)]
    for name in strategies:
        if name != "serial":
            configs += [Config(name, workers, False), Config(name, workers, True)]
    return configs


def peak_mb(pid: int) -> float | None:
    """The peak resident memory of a live process (Linux: VmHWM), MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def import_run(db: Path, blocks: list[bytes], config: Config, lists: Path | None = None) -> Run:
    """Import ``blocks`` into the chain at ``db`` (in the process that calls it);
    ``lists``: the folder of the blocks' access lists."""
    from parexec.access.access_list import AccessListHints
    from parexec.chain.chain import Chain, ImportTimes
    from parexec.parallel.worker_pool import get_pool
    from parexec.strategies import TAKES_HINTS, get_strategy
    from parexec.strategies.hint_tally import HintTally, tallied

    hints = AccessListHints(lists) if lists is not None and config.strategy in TAKES_HINTS else None
    chain = Chain(db, pipeline=config.pipeline)
    try:
        pool = get_pool(config.workers - 1, "forkserver") if config.workers > 1 else None
        if pool:
            pool.wait_ready()
        _warm_up(chain, blocks[0], get_strategy(config.strategy, hints=hints), config.workers)
        times = ImportTimes()
        strategy = tallied(get_strategy(config.strategy, hints=hints))
        started = time.perf_counter()
        for _ in chain.import_blocks(enumerate(blocks), strategy, config.workers, times):
            pass
        seconds = time.perf_counter() - started
        peaks = {"importer": peak_mb(os.getpid())}
        if config.pipeline:
            peaks["committer"] = peak_mb(chain.committer.process.pid)
        for i, worker in enumerate(pool.workers if pool else ()):
            peaks[f"worker {i + 1}"] = peak_mb(worker.process.pid)
    finally:
        chain.close()
    return Run(seconds, times.blocks, times.gas, times.execution, times.state_root, times.persistence,
               times.rejected, {k: v for k, v in peaks.items() if v is not None},
               strategy.summary() if isinstance(strategy, HintTally) else "")


def write_exact_lists(made, strategies: set[str], folder: Path) -> None:
    """Every block's exact access list in ``folder``, as ``parexec access-list``
    writes them: EIP-7928 lists if bal is among ``strategies``, parexec's if a
    declared strategy is; each from a serial import of the chain (a store of its
    own, under ``folder``, removed after)."""
    from parexec.access.access_list import AccessListRecorder, write_access_lists
    from parexec.access.eip7928_builder import EIP7928Recorder, write_eip7928_lists
    from parexec.chain.chain import Chain, ChainConfig
    from parexec.strategies import DECLARED

    recorders = []  # each format in a folder of its own: both name a block's JSON file alike
    if "bal" in strategies:
        recorders.append((EIP7928Recorder(), write_eip7928_lists, folder / "eip7928"))
    if strategies & set(DECLARED):
        recorders.append((AccessListRecorder(), write_access_lists, folder / "parexec"))
    for recorder, write, into in recorders:
        db = folder / "serial-import"
        Chain.init(db, ChainConfig(made.network), made.genesis_rlp, made.pre).close()
        chain = Chain(db)
        try:
            for label, error in chain.import_blocks(enumerate(made.blocks), recorder, 1):
                if error is not None:
                    raise RuntimeError(f"block {label + 1} rejected under serial execution: {error}")
        finally:
            chain.close()
            shutil.rmtree(db)
        into.mkdir()
        write(recorder.lists, into)


def _warm_up(chain, block_rlp: bytes, strategy, workers: int) -> None:
    """Execute the first block once, committing nothing: what a process does once
    (imports, VM classes) is not what a block costs."""
    from parexec.block.decoding import block_of, decode_block
    from parexec.block.pipeline import execute_block
    from parexec.state.store_state import StoreState

    decoded = decode_block(chain.fork_at, block_rlp)
    header = decoded.header
    vm_class = chain.fork_at(header.block_number, header.timestamp)
    block = block_of(decoded, vm_class, {0: chain.head[1]})
    base = StoreState(chain.path)
    try:
        execute_block(block, base, strategy, workers, with_state_root=False)
    finally:
        base.close()


def bench_chain(made, configs: list[Config], repeat: int, progress=None) -> list[ConfigResult]:
    """Import the synthetic chain ``made`` ``repeat`` times with each of ``configs``."""
    from parexec.chain.chain import Chain, ChainConfig
    from parexec.strategies import TAKES_HINTS

    results = [ConfigResult(c) for c in configs]
    with tempfile.TemporaryDirectory(prefix="parexec-bench-chain-") as tmp:
        genesis = Path(tmp) / "genesis"
        Chain.init(genesis, ChainConfig(made.network), made.genesis_rlp, made.pre).close()
        hinted = {c.strategy for c in configs} & set(TAKES_HINTS)
        lists = Path(tmp) / "lists" if hinted else None
        if lists is not None:
            if progress:
                progress(f"exact access lists for {', '.join(sorted(hinted))} (a serial import, untimed)")
            lists.mkdir()
            write_exact_lists(made, hinted, lists)
        for r in range(repeat):
            for result in results:
                db = Path(tmp) / "run"
                shutil.copytree(genesis, db)
                if progress:
                    progress(f"run {r + 1}/{repeat}: {result.config.name}")
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
                    run = fresh.submit(import_run, db, made.blocks, result.config, lists).result()
                shutil.rmtree(db)
                if run.rejected or run.blocks != len(made.blocks):
                    raise RuntimeError(f"{result.config.name}: {len(run.rejected)} blocks rejected: "
                                       f"{run.rejected[:1]}")
                result.runs.append(run)
    return results


def summary(results: list[ConfigResult], blocks: int) -> dict:
    """The ratios the chain benchmark reports (medians of the runs)."""
    by = {(r.config.strategy, r.config.pipeline): r for r in results}
    serial = by[("serial", False)]
    serial_bps = statistics.median(serial.blocks_per_second)
    parallel = [r for r in results if r.config.strategy != "serial" and r.config.pipeline]
    best = max(parallel, key=lambda r: statistics.median(r.blocks_per_second), default=None)
    out = {
        "serial_blocks_per_second": serial_bps,
        # the incremental root against serial execution, per block (serial, one block at a time)
        "state_root_share_of_serial_execution": serial.median("state_root") / serial.median("execution"),
        "state_root_ms_per_block": serial.median("state_root") / blocks * 1000,
        "serial_execution_ms_per_block": serial.median("execution") / blocks * 1000,
        "pipelining": {r.config.strategy: statistics.median(by[(r.config.strategy, True)].blocks_per_second)
                       / statistics.median(r.blocks_per_second)
                       for r in results if not r.config.pipeline and (r.config.strategy, True) in by},
    }
    if best is not None:
        out["best_parallel"] = best.config.name
        out["best_parallel_vs_serial"] = statistics.median(best.blocks_per_second) / serial_bps
        out["best_parallel_vs_serial_pipelined"] = (
            statistics.median(best.blocks_per_second) / statistics.median(by[("serial", True)].blocks_per_second))
    return out


def as_json(results: list[ConfigResult], summary_: dict, spec: str, machine: dict) -> dict:
    return {"spec": spec, "machine": machine, "summary": summary_,
            "configs": [{"config": asdict(r.config), "runs": [asdict(run) for run in r.runs]} for r in results]}
