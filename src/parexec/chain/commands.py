"""``parexec chain``: a persistent chain on an LMDB store (parexec.chain.chain)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click

from parexec.chain.chain import DEFAULT_DB, Chain, ChainError, ImportTimes
from parexec.chain.committer import CommitterError
from parexec.cli_options import FALLBACK_OPTION, HINTS_OPTION, PREDICT_OPTION, load_hints
from parexec.counted import counted
from parexec.model import BlockRejected, FixtureError
from parexec.state.lmdb_store import StoreError
from parexec.strategies import STRATEGIES, get_strategy
from parexec.strategies.hint_tally import HintTally, tallied

DB_OPTION = click.option("--db", "db", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DB,
                         show_default=True, help="The chain's folder (an LMDB store).")


@click.group()
def chain() -> None:
    """A chain of blocks on a persistent state store, each checked by its state root."""


def _fail(message: str, code: int = 2):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _opened(db: Path, pipeline: bool = False):
    """The chain in ``db``, closed again however the command ends."""
    try:
        current = Chain(db, pipeline=pipeline)
    except (ChainError, CommitterError) as exc:
        _fail(str(exc))
    try:
        yield current
    except CommitterError as exc:  # its process died: what it committed stays
        _fail(str(exc), 1)
    finally:
        try:
            current.close()
        except CommitterError:
            pass


def _fixture_test(path: Path, name: str | None) -> tuple[str, dict]:
    from parexec.fixtures.blockchain_tests import load_file

    try:
        tests = load_file(path)
    except (FixtureError, OSError) as exc:
        _fail(str(exc))
    if name is None:
        return next(iter(tests.items()))
    if name not in tests:
        _fail(f"{path}: no test named {name!r}")
    return name, tests[name]


@chain.command()
@DB_OPTION
@click.option("--genesis", "genesis", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A genesis file: geth's genesis.json shape (alloc, gasLimit, timestamp, baseFeePerGas, "
                   "coinbase) with \"network\" naming the fork rules (Cancun, Prague, Osaka...).")
@click.option("--fixture", "fixture", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A BlockchainTests file whose genesis (state and block) starts the chain.")
@click.option("--test", "test_name", help="Which test of the --fixture file (default: the first).")
def init(db: Path, genesis: Path | None, fixture: Path | None, test_name: str | None) -> None:
    """Start a chain at a genesis (--genesis FILE or --fixture FILE): its state
    must have the genesis header's root."""
    from parexec.fixtures.blockchain_tests import chain_from_test

    if (genesis is None) == (fixture is None):
        _fail("give either --genesis FILE or --fixture FILE")
    try:
        if fixture is not None:
            name, test = _fixture_test(fixture, test_name)
            new = chain_from_test(test, db)
        else:
            from parexec.chain.genesis import load_genesis

            config, genesis_rlp, pre = load_genesis(genesis)
            name = genesis.name
            new = Chain.init(db, config, genesis_rlp, pre)
    except (ChainError, BlockRejected, FixtureError) as exc:
        _fail(str(exc))
    number, block_hash = new.head
    click.echo(f"{db}: chain of {name} ({new.config.network}) at block {number} 0x{block_hash.hex()}, "
               f"{new.accounts()} accounts, state root 0x{new.state_root().hex()}")
    new.close()


@chain.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@DB_OPTION
@click.option("--strategy", type=click.Choice(sorted(STRATEGIES)), default="serial", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--pipeline/--no-pipeline", default=True, show_default=True,
              help="Execute the next block while the last one's state root is computed and written "
                   "(a committer process); --no-pipeline does one block after the other in this process.")
@HINTS_OPTION
@FALLBACK_OPTION
@PREDICT_OPTION
def import_(paths: tuple[Path, ...], db: Path, strategy: str, workers: int, pipeline: bool,
            hints_path: Path | None, fallback: bool, predict: bool) -> None:
    """Import the blocks of BlockchainTests files whose genesis is this chain's.

    Each block is checked (header against parent, state and receipts roots, gas,
    bloom, requests) and committed atomically; a rejected block is reported and
    the chain stays at its parent (with bal and no --fallback, also a block a
    transaction of which disagrees with its --hints list). Blocks already on the
    chain are skipped, so an import killed midway goes on where it stopped when
    run again. A strategy that takes --hints says how it ran the blocks (with a
    list, or without one). The exit status is 0 only if no block was rejected.
    """
    chosen = tallied(get_strategy(strategy, hints=load_hints(hints_path), fallback=fallback, predict=predict))
    times = ImportTimes()
    with _opened(db, pipeline) as current:
        blocks = _blocks_of(paths, current.store.block_hash(0))
        started = time.perf_counter()
        with _progress(len(blocks)) as step:
            for label, error in current.import_blocks(blocks, chosen, workers, times):
                if error is not None:
                    click.echo(f"rejected: {label}: {error}")
                step(times, time.perf_counter() - started)
        number, block_hash = current.head
    elapsed = time.perf_counter() - started
    total = max(elapsed, 1e-9)
    click.echo(f"{counted(times.blocks, 'block')} imported in {elapsed:.2f} s ({times.blocks / total:.1f} blocks/s, "
               f"{times.gas / total / 1e6:.1f} Mgas/s): execution {times.execution:.2f} s, state root "
               f"{times.state_root:.2f} s, persistence {times.persistence:.2f} s"
               + (" (root and persistence beside execution, pipelined)" if pipeline else ""))
    click.echo(f"head: block {number} 0x{block_hash.hex()}; {times.skipped} already on the chain, "
               f"{len(times.rejected)} rejected")
    if isinstance(chosen, HintTally):
        click.echo(chosen.summary())
    sys.exit(1 if times.rejected else 0)


def _blocks_of(paths, genesis: bytes) -> list[tuple[str, bytes]]:
    """(label, block RLP) of every block of the tests in ``paths`` that start at ``genesis``."""
    from parexec.fixtures.blockchain_tests import load_file, which_block
    from parexec.fixtures.transactions import hex_bytes

    blocks = []
    for path in paths:
        try:
            tests = load_file(path)
        except FixtureError as exc:
            _fail(str(exc))
        for name, test in tests.items():
            if hex_bytes(test["genesisBlockHeader"]["hash"]) == genesis:
                blocks += [(f"{name} {which_block(n, entry)}", hex_bytes(entry["rlp"])) for n, entry in enumerate(test["blocks"])]
    return blocks


@contextmanager
def _progress(total: int):
    """A step function that shows blocks/s and gas/s on a terminal (nothing elsewhere)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal or not total:
        yield lambda times, elapsed: None
        return
    with Progress(TextColumn("[bold]import[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("import", total=total, rate="")

        def step(times, elapsed):
            elapsed = max(elapsed, 1e-9)
            progress.update(task, advance=1, rate=f"{times.blocks / elapsed:.1f} blocks/s, "
                                                   f"{times.gas / elapsed / 1e6:.1f} Mgas/s")

        yield step


@chain.command()
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The BlockchainTests file to write.")
def make(spec: str, output: Path) -> None:
    """Make a synthetic chain (SPEC: erc20:txs=200,blocks=50,accounts=100000,seed=0) as a
    BlockchainTests file, for `chain init --fixture` and `chain import`."""
    import json

    from parexec.workloads.synthetic import WorkloadError
    from parexec.workloads.synthetic_chain import as_blockchain_test, build_chain

    try:
        made = build_chain(spec)
    except WorkloadError as exc:
        _fail(str(exc))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(as_blockchain_test(made, spec)))
    click.echo(f"{output}: {len(made.blocks)} blocks on a genesis of {len(made.pre.accounts)} accounts")


@chain.command()
@click.argument("spec", default="erc20:txs=200,blocks=50,accounts=100000,seed=0")
@click.option("--strategies", default="serial,occ,block-stm", show_default=True,
              help="Comma-separated; serial is always run (the baseline).")
@click.option("--workers", type=click.IntRange(min=2), default=2, show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every run's figures as JSON.")
def bench(spec: str, strategies: str, workers: int, repeat: int, json_path: Path | None) -> None:
    """Import a synthetic chain (SPEC as for `chain make`) end to end, every state
    root checked, with serial and each parallel strategy, pipelined and one block
    at a time; report blocks/s of every run, the medians' ratios and the peak
    memory of each process.

    Each run starts from a copy of the same genesis store, in a fresh process.
    Strategies that take access lists (bal, the declared ones) get every block's
    exact list, written from a serial import before the runs, untimed.
    """
    import json

    from rich.console import Console

    from parexec.benchmarking import machine_info
    from parexec.chain.bench import as_json, bench_chain, default_configs, summary
    from parexec.report.tables import chain_bench_lines, chain_bench_table
    from parexec.workloads.synthetic import WorkloadError
    from parexec.workloads.synthetic_chain import build_chain

    names = [n for n in strategies.split(",") if n]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        _fail(f"unknown strategies: {', '.join(unknown)} (known: {', '.join(sorted(STRATEGIES))})")
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    err = Console(stderr=True, highlight=False)
    try:
        started = time.perf_counter()
        made = build_chain(spec)
    except WorkloadError as exc:
        _fail(str(exc))
    err.print(f"built {len(made.blocks)} blocks on {len(made.pre.accounts):,} accounts "
              f"in {time.perf_counter() - started:.0f} s")
    configs = default_configs(names, workers)
    try:
        results = bench_chain(made, configs, repeat, progress=lambda text: err.print(f"[dim]{text}[/]"))
    except RuntimeError as exc:
        _fail(str(exc), 1)
    figures = summary(results, len(made.blocks))
    out.print(chain_bench_table(results, len(made.blocks), spec))
    for line in chain_bench_lines(figures):
        out.print(line)
    for result in results:  # how a strategy that takes lists ran the blocks, if the runs differ: each
        for ran in dict.fromkeys(run.ran for run in result.runs if run.ran):
            out.print(f"{result.config.name}: {ran} (exact lists from a serial import)")
    if json_path:
        json_path.write_text(json.dumps(as_json(results, figures, spec, machine_info()), indent=1))


@chain.command()
@DB_OPTION
def info(db: Path) -> None:
    """The chain's head, fork rules and state."""
    with _opened(db) as current:
        number, block_hash = current.head
        click.echo(f"head: block {number} 0x{block_hash.hex()}")
        click.echo(f"rules: {current.config.network}")
        click.echo(f"state: {current.accounts()} accounts, root 0x{current.state_root().hex()}")


@chain.command()
@click.argument("number", type=click.IntRange(min=0))
@DB_OPTION
def rewind(number: int, db: Path) -> None:
    """Go back to block NUMBER (one of the last 128)."""
    with _opened(db) as current:
        try:
            current.rewind(number)
        except StoreError as exc:
            _fail(str(exc), 1)
        head, block_hash = current.head
        click.echo(f"head: block {head} 0x{block_hash.hex()}, state root 0x{current.state_root().hex()}")
