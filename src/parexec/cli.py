"""The ``parexec`` command line."""

from __future__ import annotations

import os
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parexec import __version__
from parexec.cli_options import FALLBACK_OPTION, HINTS_OPTION, PREDICT_OPTION, REDO_OPTION, load_hints
from parexec.counted import counted
from parexec.fixtures.discover import find_cases
from parexec.model import FixtureError
from parexec.analysis.simulator import simulated_strategies
from parexec.strategies import STRATEGIES, TAKES_HINTS, get_strategy, split_spec
from parexec.strategies.hint_tally import HintTally, tallied
from parexec.verifier import run_cases

DEFAULT_WORKERS = os.cpu_count() or 1

INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in parexec, not bad input (2) or an invalid block (1)
OUT_OF_MEMORY = 71  # EX_OSERR: the machine (or a limit on the process) ran out of memory


class _Main(click.Group):
    """The parexec group: whatever a command lets escape ends in one line, never a
    bare traceback. Unreadable input (FixtureError) exits 2, an invalid block
    (BlockRejected) 1, memory exhausted (MemoryError) 71, anything else is
    "parexec: internal error: ..." with status 70; --debug (or PAREXEC_DEBUG=1)
    lets the traceback through instead."""

    debug = False  # --debug, as click parsed it for the command running

    def invoke(self, ctx):
        self.debug = bool(ctx.params.get("debug"))
        with self._in_one_line(ctx.exit):
            return super().invoke(ctx)

    def main(self, *args, **kwargs):
        """What escapes even ``invoke`` ends in one line too: on a process out of
        memory CPython may raise late, once the command has ended (a SystemError,
        "error return without exception set", seen under a 200 MiB limit)."""
        self.debug = False
        with self._in_one_line(sys.exit):
            return super().main(*args, **kwargs)

    @contextmanager
    def _in_one_line(self, leave):
        """An unexpected exception inside is said in one line, then ``leave(status)``."""
        try:
            yield
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if self.debug:
                raise
            leave(_said_in_one_line(exc))


def _said_in_one_line(exc: Exception) -> int:
    """Say ``exc`` in one line on standard error; the exit status it calls for."""
    from parexec.fixtures.case import rejection_text
    from parexec.model import BlockRejected

    if isinstance(exc, FixtureError):
        code, line = 2, f"error: {exc}"
    elif isinstance(exc, BlockRejected):
        code, line = 1, f"error: invalid block: {rejection_text(exc)}"
    elif isinstance(exc, MemoryError):
        code, line = OUT_OF_MEMORY, "error: out of memory (MemoryError)"
    else:
        code, line = INTERNAL_ERROR, f"parexec: internal error: {type(exc).__name__}: {exc}"
    click.echo(" ".join(line.split()), err=True)  # one line, whatever the message holds
    return code


@click.group(cls=_Main)
@click.version_option(__version__, prog_name="parexec")
@click.option("--debug", is_flag=True, envvar="PAREXEC_DEBUG", show_envvar=True,
              help="Show the traceback of an unexpected error (without it: one line, status 70).")
def main(debug: bool) -> None:
    """Execute Ethereum blocks in parallel, exactly as serial execution would.

    Exit status: 0 done, 1 a check failed or a block is invalid, 2 unreadable
    or malformed input, 70 an internal error (a bug; --debug shows where), 71
    out of memory.
    """


STRATEGY_OPTION = click.option(
    "--strategy",
    type=click.Choice(sorted(STRATEGIES)),
    default="serial",
    show_default=True,
    help="How to execute each block's transactions.",
)
WORKERS_OPTION = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Processes for parallel strategies, the coordinator included (serial ignores it).",
)
MIN_PARALLEL_OPTION = click.option(
    "--min-parallel-txs",
    type=click.IntRange(min=2),
    default=8,
    show_default=True,
    help="Blocks with fewer transactions run serially (conformance runs use 2 to "
    "push even small test blocks through the parallel path).",
)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@STRATEGY_OPTION
@WORKERS_OPTION
@MIN_PARALLEL_OPTION
@HINTS_OPTION
@FALLBACK_OPTION
@PREDICT_OPTION
@REDO_OPTION
@click.option("--by-fork", is_flag=True,
              help="Also print a table of the results by fork and feature (an EIP's folder).")
def verify(paths: tuple[Path, ...], strategy: str, workers: int, min_parallel_txs: int,
           hints_path: Path | None, fallback: bool, predict: bool, redo: str, by_fork: bool) -> None:
    """Execute fixtures and check every result against the expected one.

    A PATH is an ethereum/tests BlockchainTests file, a mainnet block folder
    (blocks/N with the dataset's bytecodes.json.gz two levels up), the Prague
    dump folder, any folder searched recursively for these, or a synthetic
    workload spec as in `bench` (every transaction must succeed, and a parallel
    strategy must give serial's outcome). Each failure is
    printed on one line with its first difference; the last line is
    "N passed, M failed". The exit status is 0 only if nothing failed; 2 when
    a path or a fixture is unreadable or malformed (a value out of range, a
    field missing), after the other cases ran.
    With a parallel strategy, block dumps are also compared field by field with
    a serial run (receipts, state diff).
    """
    try:
        cases = find_cases(list(paths))
    except FixtureError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    chosen = tallied(get_strategy(strategy, hints=load_hints(hints_path), min_parallel_txs=min_parallel_txs,
                                  fallback=fallback, predict=predict, redo=redo))

    tally = _run_with_progress(cases, chosen, workers, "verify")
    for reason, count in Counter(r.detail for r in tally.results if r.status == "skipped").items():
        click.echo(f"skipped {count}: {reason}")
    if by_fork:
        from parexec.report.tables import conformance_table

        console = Console(highlight=False)
        console.width = max(console.width, 110)  # feature names are long
        console.print(conformance_table(tally.results))
    if isinstance(chosen, HintTally):
        click.echo(chosen.summary())
    click.echo(tally.summary())
    sys.exit(2 if any(r.bad_input for r in tally.results) else 1 if tally.count("failed") else 0)


def _progress_bar(err: Console) -> Progress:
    """What runs now, a bar of steps done and the time so far; on stderr, and only
    on a terminal (a log gets the commands' own lines)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


def _run_with_progress(cases, strategy, workers: int, label: str):
    """run_cases, printing each failure on one line, with a progress bar on a terminal."""
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def report(result):
        if result.status == "failed":
            out.print(f"FAILED {result.name}: {result.detail}", markup=False)

    if not err.is_terminal or not cases:
        return run_cases(cases, strategy, workers, report)
    with Progress(
        TextColumn(f"[bold]{label}[/] {{task.fields[current]}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=len(cases), current="")

        def step(result):
            report(result)
            progress.update(task, advance=1, current=result.name[:60])

        return run_cases(cases, strategy, workers, step)


def _load_targets(specs):
    """Block dumps and workloads, as bench takes them; exits 2 on bad input, 1 on
    a block that cannot be valid (a signature that recovers no sender)."""
    from parexec.fixtures.case import rejection_text
    from parexec.fixtures.targets import load_targets
    from parexec.model import BlockRejected
    from parexec.workloads import WorkloadError

    targets = []
    for spec in specs:
        try:
            targets += load_targets([spec])
        except (FixtureError, WorkloadError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except BlockRejected as exc:
            click.echo(f"error: {spec} is invalid: {rejection_text(exc)}", err=True)
            sys.exit(1)
    return targets


def _strategy_list(ctx, param, value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    try:
        unknown = [n for n in names if split_spec(n)[0] not in STRATEGIES]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if unknown or not names:
        raise click.BadParameter(
            f"unknown strategy {', '.join(unknown) or '(none)'}; choose from {', '.join(sorted(STRATEGIES))}"
        )
    return names


@main.command()
@click.argument("targets", nargs=-1, required=True)
@STRATEGY_OPTION
@WORKERS_OPTION
@MIN_PARALLEL_OPTION
@HINTS_OPTION
@FALLBACK_OPTION
@PREDICT_OPTION
@REDO_OPTION
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write one row per block as JSON.")
def run(targets, strategy, workers, min_parallel_txs, hints_path, fallback, predict, redo, json_path) -> None:
    """Execute blocks once with a strategy and show what it did.

    A TARGET is a block dump path or a synthetic workload spec, as in `bench`.
    For each block: transactions, gas, wall time, executions and re-executions,
    the strategy's counters (lock waits, mispredictions, ...) and the receipts
    root. Nothing is compared here: `verify` checks results, `bench` times them.
    An invalid block exits with status 1, bad input with 2.
    """
    import json

    from parexec.benchmarking import run_row
    from parexec.block.pipeline import execute_block
    from parexec.fixtures.case import rejection_text
    from parexec.model import BlockRejected
    from parexec.report.tables import counter_lines, run_table

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    hints = load_hints(hints_path)
    loaded = _load_targets(targets)
    chosen = get_strategy(strategy, hints=hints, min_parallel_txs=min_parallel_txs, fallback=fallback,
                          predict=predict, redo=redo)
    rows = []
    for target in loaded:
        try:
            outcome = execute_block(target.block, target.pre_state, chosen, workers)
        except BlockRejected as exc:
            click.echo(f"error: {target.name} is invalid: {rejection_text(exc)}", err=True)
            sys.exit(1)
        except FixtureError as exc:  # hints that do not fit the block
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        rows.append({**run_row(target, strategy, workers, outcome.gas_used, outcome.stats),
                     "receipts_root": "0x" + outcome.receipts_root.hex()})
    out.print(run_table(rows, strategy, workers))
    for line in counter_lines(rows):
        out.print(line)
    if json_path:
        json_path.write_text(json.dumps({"rows": rows}, indent=1))


@main.command()
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--strategies",
    default="serial,occ,block-stm",
    show_default=True,
    callback=_strategy_list,
    help="Comma-separated strategies; serial always runs too, as the reference.",
)
@click.option("--workers", type=click.IntRange(min=1), default=DEFAULT_WORKERS, show_default=True,
              help="Processes for parallel strategies (the coordinator counts as one).")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per strategy, in rounds; the median is reported, and each "
                   "round's own ratio to serial (lowest-highest).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the rows and machine facts as JSON.")
@HINTS_OPTION
@PREDICT_OPTION
@REDO_OPTION
def bench(targets, strategies, workers, repeat, json_path, hints_path, predict, redo) -> None:
    """Time strategies on blocks and report speedups over serial, measured in one run.

    A TARGET is a fixture path as in `verify` (mainnet or Prague block dumps) or a
    synthetic workload NAME[:k=v,...]: transfers, erc20, chain, amm, nft,
    mixed, or the adversarial onewrite, coinbase, redeploy, redelegate and
    abortonce, each taking txs=N (and hot=F, the share of transactions
    touching one hot account, fork=F, ...: see parexec.workloads.synthetic).
    A strategy may carry options, NAME:k=v: `--strategies occ,occ:redo=off`
    times occ with and without operation-level redo in one run.
    Every strategy's outcome must equal serial's, or the command fails.
    """
    import json

    from parexec.benchmarking import BenchMismatch, bench_target, geometric_mean, machine_info
    from parexec.report.tables import bench_table, counter_lines

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    hints = load_hints(hints_path)
    loaded = _load_targets(targets)
    rows = []
    try:
        for target in loaded:
            if out.is_terminal:
                out.print(f"[dim]bench {target.name} ({len(target.block.transactions)} txs)[/]")
            rows.extend(bench_target(target, strategies, workers, repeat, hints=hints, predict=predict,
                                     redo=redo))
    except BenchMismatch as exc:
        click.echo(f"error: results differ from serial: {exc}", err=True)
        sys.exit(1)
    out.print(bench_table(rows, workers, repeat))
    for line in counter_lines(rows):
        out.print(line)
    if len(loaded) > 1:
        for name in strategies:
            if name != "serial":
                g = geometric_mean(r["speedup"] for r in rows if r["strategy"] == name)
                out.print(f"geometric-mean speedup of {name}: {g:.2f}x over {len(loaded)} targets")
    if json_path:
        json_path.write_text(json.dumps({"rows": rows, "machine": machine_info()}, indent=1))


@main.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--granularity", type=click.Choice(["account", "slot"]), default="slot", show_default=True,
              help="Dependencies per account, or per storage slot and account field.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Serial runs per block; each transaction's time is the median.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every block's summary (a list) as JSON.")
@click.option("--dot", "dot_path", type=click.Path(path_type=Path),
              help="Write the dependency graph as Graphviz DOT (several targets: a folder).")
@click.option("--png", "png_path", type=click.Path(path_type=Path),
              help="Draw the dependency graph, layered by depth (several targets: a folder).")
@click.option("--contract", "contract", help="A contract's address (0x...): which of its slots make its callers "
                                             "wait, over all the targets.")
def analyze(targets, granularity, repeat, json_path, dot_path, png_path, contract) -> None:
    """Explain blocks: dependency graph, critical path, parallelism bound, hotspots.

    A TARGET is a block dump path or a workload spec, as in `bench`. Each block
    runs serially (--repeat times, timing every transaction). Transaction j
    depends on an earlier i when j reads a location that i wrote last before
    it; fee deltas are no dependency. The bound is total transaction time over
    the critical path's time: what unlimited cores could reach at best.
    """
    import json

    from parexec.analysis.block_analysis import analyze as analyze_block
    from parexec.analysis.block_profile import profile_block
    from parexec.model import BlockRejected
    from parexec.report.dag_drawing import draw_png, to_dot
    from parexec.report.tables import analyze_table

    address = _address_option(contract)
    loaded = _load_targets(targets)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    summaries, graphs = [], []
    for target in loaded:
        try:
            summary, graph = analyze_block(profile_block(target, repeat), granularity)
        except BlockRejected as exc:
            click.echo(f"error: {target.name} is invalid: {exc}", err=True)
            sys.exit(1)
        summaries.append(summary)
        graphs.append((target.name, graph))
        if dot_path:
            _drawing_path(dot_path, target.name, ".dot", len(loaded)).write_text(to_dot(graph, summary))
        if png_path:
            draw_png(graph, summary, _drawing_path(png_path, target.name, ".png", len(loaded)))
    out.print(analyze_table(summaries, granularity))
    result = summaries
    if address is not None:
        from parexec.analysis.contract_hotspots import contract_hotspots
        from parexec.report.tables import contract_table

        rows = contract_hotspots(graphs, address)
        out.print(contract_table(rows, contract, len(graphs)))
        result = {"blocks": summaries, "contract": {"address": contract, "locations": rows}}
    if json_path:
        json_path.write_text(json.dumps(result, indent=1))


def _address_option(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        address = bytes.fromhex(text[2:] if text.startswith("0x") else text)
    except ValueError:
        address = b""
    if len(address) != 20:
        click.echo(f"error: --contract {text!r} is not an address (0x and 40 hex digits)", err=True)
        sys.exit(2)
    return address


def _drawing_path(path: Path, target: str, suffix: str, count: int) -> Path:
    """``path`` itself for one target; for several, a file per target in the folder ``path``."""
    if count == 1 and not path.is_dir():
        return path
    path.mkdir(parents=True, exist_ok=True)
    return path / (target.replace("/", "_").replace(":", "_").replace(",", "_") + suffix)


def _worker_list(ctx, param, value: str) -> list[int]:
    try:
        counts = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter(f"{value!r}: give worker counts such as 1,2,4,8") from None
    if not counts or counts[0] < 1:
        raise click.BadParameter(f"{value!r}: worker counts must be at least 1")
    return counts


@main.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--workers", "worker_counts", default="1,2,4,8,16,32,64", show_default=True,
              callback=_worker_list, help="Comma-separated numbers of virtual workers.")
@click.option("--strategies", default=",".join(s for s in simulated_strategies() if s != "serial"),
              show_default=True, callback=_strategy_list,
              help="Comma-separated strategies to simulate (those whose engine has a model).")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Serial runs per block (each transaction's time is the median); "
              "also the timed runs of --validate and of calibration.")
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("build/calibration.json"), show_default=True,
              help="The measured overheads; measured (a few minutes) and saved here if missing "
              "(for the strategies it lacks).")
@click.option("--recalibrate", is_flag=True, help="Measure the overheads of these strategies again.")
@click.option("--validate", is_flag=True,
              help="Also run the real engine at this machine's worker count and compare: the "
              "speedup, and how many transactions its coordinator executed itself; warns if "
              "the model misses the speedup by more than 10% (median), as after a calibration "
              "on a busy machine.")
@click.option("--what-if", "what_if", type=click.IntRange(min=2), metavar="N",
              help="Also show, per strategy at N workers, what holds its figure: the "
              "geometric-mean speedup over the targets with each calibrated overhead at zero in "
              "turn, with all of the coordinator's own at zero together, and with none (simulated).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write rows {target, strategy, workers, predicted_speedup, ...} as JSON.")
def simulate(targets, worker_counts, strategies, repeat, calibration_path, recalibrate, validate,
             what_if, json_path) -> None:
    """Predict each strategy's speedup on many cores from one core's measurements.

    A TARGET is a block dump path or a workload spec, as in `bench`. Each block
    runs serially with every transaction timed; a discrete-event simulation then
    schedules it per strategy on N virtual workers with the real read/write sets
    and overheads calibrated on this machine (see --calibration). Beside each
    prediction: the absolute bounds, total work over the critical path (nonces
    predicted, as occ, block-stm and dag do) and N.
    The predictions are simulated, not measured; --validate measures the real
    engine where this machine can. Declared-access strategies are simulated and
    measured with exact access lists (the serial run's footprints).
    """
    import json
    import statistics

    from parexec import calibration
    from parexec.analysis.block_analysis import analyze as analyze_block
    from parexec.analysis.block_profile import profile_block
    from parexec.analysis.simulator import MODEL_TOLERANCE, beyond_tolerance, model_of, predict, prediction_errors
    from parexec.report.tables import simulate_table

    for name in strategies:
        try:
            model_of(name)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    strategies = [s for s in strategies if s != "serial"]
    loaded = _load_targets(targets)
    err = Console(stderr=True, highlight=False)
    try:
        calibrated = calibration.load_or_calibrate(calibration_path, strategies, recalibrate, repeat,
                                                   say=err.print)
    except ValueError as exc:
        click.echo(f"error: {exc} (use --recalibrate)", err=True)
        sys.exit(2)
    cores = DEFAULT_WORKERS
    rows, profiles = [], []
    for k, target in enumerate(loaded, 1):
        err.print(f"[dim]{k}/{len(loaded)} {'profiling and measuring' if validate else 'profiling'} "
                  f"{target.name} ({len(target.block.transactions)} txs)[/]")
        profile = profile_block(target, repeat)
        if any(split_spec(s)[0] == "bal" for s in strategies):  # its coordinator's entering of the block's list
            profile = calibration.with_list_load(target, profile, repeat)
        if what_if:
            profiles.append(profile)
        summary, _ = analyze_block(profile, "slot", predict_nonces=True)  # no strategy beats it
        mine = predict(profile, strategies, worker_counts, calibrated.overheads, summary["parallelism_bound"])
        if validate:
            measured = calibration.measure_speedups(target, profile, strategies, cores, repeat)
            for row in mine:
                if row["workers"] == cores:
                    row["measured_speedup"], row["measured_coordinator_executions"] = measured[row["strategy"]]
        rows.extend(mine)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    out.print(simulate_table(rows, worker_counts))
    missed = {}
    if validate:
        click.echo(f"in parentheses: measured with {cores} workers")
        shares = prediction_errors(rows, "coordinator_executions")
        errors_by_strategy = prediction_errors(rows)
        for strategy, errors in errors_by_strategy.items():
            here = shares.get(strategy)
            click.echo(f"{strategy}: median |predicted/measured - 1| = {statistics.median(errors):.1%} "
                       f"over {len(errors)} targets"
                       + (f"; of the transactions the coordinator executes itself, {statistics.median(here):.1%}"
                          if here else ""))
        missed = beyond_tolerance(errors_by_strategy)
    if what_if:
        from parexec.analysis.what_if import what_ifs
        from parexec.report.tables import what_if_table

        for strategy in strategies:
            err.print(f"[dim]what-if: {strategy} at {what_if} workers[/]")
            out.print(what_if_table(what_ifs(profiles, strategy, what_if, calibrated.overheads(strategy))))
    if json_path:
        json_path.write_text(json.dumps(rows, indent=1))
    if missed:  # last, where it is seen
        worst = ", ".join(f"{strategy} {m:.1%}" for strategy, m in missed.items())
        err.print(f"[bold yellow]warning:[/] the model misses this machine's measurements by more than "
                  f"{MODEL_TOLERANCE:.0%} (median: {worst}), where on a quiet machine it misses the shared "
                  f"mainnet blocks by 2-6%. The calibration ({calibration_path}) or these measurements "
                  f"were probably taken while something else ran (or the model does not fit these "
                  f"blocks), so the predictions above are not to be trusted: run again with "
                  f"--recalibrate on a quiet machine.")


@main.command("strategies")
def strategies_command() -> None:
    """List the strategies: name, engine, whether `simulate` models it, and what it is.

    Every command takes a strategy by these names (see docs/adding-a-strategy.md
    to add one).
    """
    from parexec.analysis.simulator import MODELS
    from parexec.report.tables import strategies_table

    rows = [{"name": name, "engine": getattr(cls, "engine", None), "simulated": getattr(cls, "engine", None) in MODELS,
             "hints": name in TAKES_HINTS, "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""}
            for name, cls in STRATEGIES.items()]
    Console(highlight=False, width=None if sys.stdout.isatty() else 140).print(strategies_table(rows))


@main.command("access-list")
@click.argument("targets", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="One block: a file (default: standard output). Several blocks: a folder, "
              "created if needed, with one NUMBER-HASH.json per block. With --format eip7928: "
              "always a folder, with NUMBER-HASH.rlp and NUMBER-HASH.json per block.")
@click.option("--format", "list_format", type=click.Choice(["parexec", "eip7928"]), default="parexec",
              show_default=True, help="parexec: each transaction's locations (for --hints); eip7928: the "
              "EIP-7928 list, every account's post-values by block access index, as RLP and a JSON view.")
@click.option("--check", "check_path", type=click.Path(path_type=Path),
              help="Compare the EIP-7928 lists under this path (one .rlp file, or a folder of "
              "NUMBER-HASH.rlp) with the exact lists, and name the first difference of each; implies "
              "--format eip7928, writes nothing unless -o is given; exit 1 if any list is not exact.")
@click.pass_context
def access_list(ctx, targets: tuple[str, ...], output: Path | None, list_format: str,
                check_path: Path | None) -> None:
    """Write block access lists: every transaction's exact reads and writes.

    A TARGET is a fixture path as in `verify` (ethereum/tests chains give a list
    for every block that executes) or a synthetic workload spec as in `bench`.
    Each block runs serially once; the JSON (the idea of EIP-7928) names the
    block and each transaction by hash, and is read back by declared-access
    strategies through --hints (a file, or the folder). --format eip7928 writes
    the lists EIP-7928 defines (RLP, with a readable JSON beside it); --check
    compares lists from elsewhere with them.
    """
    from parexec.access.access_list import AccessListRecorder, write_access_lists
    from parexec.access.eip7928_builder import EIP7928Recorder
    from parexec.block.pipeline import execute_block
    from parexec.model import BlockRejected
    from parexec.workloads import WorkloadError, is_workload_spec, workload_blocks

    if check_path is not None:
        if ctx.get_parameter_source("list_format") != click.core.ParameterSource.DEFAULT and list_format == "parexec":
            click.echo("error: --check compares EIP-7928 lists: leave out --format parexec", err=True)
            sys.exit(2)
        list_format = "eip7928"
        hints = load_hints(check_path)  # before any block runs: a bad path fails at once
    if list_format == "eip7928" and output is None and check_path is None:
        click.echo("error: --format eip7928 writes binary lists: give -o FOLDER", err=True)
        sys.exit(2)
    recorder = EIP7928Recorder() if list_format == "eip7928" else AccessListRecorder()
    paths = [Path(t) for t in targets if not is_workload_spec(t)]
    try:
        cases = find_cases(paths) if paths else []
        for spec in filter(is_workload_spec, targets):
            for block, pre in workload_blocks(spec):
                execute_block(block, pre, recorder, 1, with_state_root=False)
    except (FixtureError, WorkloadError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except BlockRejected as exc:
        click.echo(f"error: the block is invalid: {exc}", err=True)
        sys.exit(1)
    failed = _run_with_progress(cases, recorder, 1, "access-list").failures
    lists = recorder.lists
    if not lists:
        click.echo("error: no block executed, so there is no access list", err=True)
        sys.exit(1)
    differ = _check_eip7928_lists(lists, hints) if check_path is not None else 0
    if list_format == "eip7928":
        if output is not None:  # (--check alone writes nothing)
            from parexec.access.eip7928_builder import write_eip7928_lists

            write_eip7928_lists(lists, output)
            txs = sum(len(block.transactions) for block, _ in lists)
            click.echo(f"{output}: EIP-7928 lists of {counted(len(lists), 'block')}, "
                       f"{counted(txs, 'transaction')}", err=True)
    else:
        try:
            text = write_access_lists(lists, output)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        if text is not None:
            click.echo(text, nl=False)
        else:
            txs = sum(len(data["transactions"]) for data in lists)
            click.echo(f"{output}: access lists of {counted(len(lists), 'block')}, "
                       f"{counted(txs, 'transaction')}", err=True)
    if failed:  # the lists of the blocks that executed are sound (a serial run)
        click.echo(f"error: {counted(len(failed), 'case')} failed under serial execution (above); "
                   "only the blocks that executed have a list", err=True)
        sys.exit(1)
    if differ:
        sys.exit(1)


def _check_eip7928_lists(lists, hints) -> int:
    """Print, for each (block, exact list), whether the given list is exact, or
    its first difference; how many are not."""
    from parexec.access.eip7928_builder import first_difference

    differ = 0
    for block, exact in lists:
        name = f"block {block.header.block_number} 0x{block.header.hash.hex()[:16]}"
        encoded = hints.eip7928_encoded_for(block)
        if encoded is None:
            line = "no EIP-7928 list given for it"
        else:
            try:
                line = first_difference(encoded.decode_for(block), exact)
            except FixtureError as exc:  # it breaks the EIP's encoding or ordering rules
                line = str(exc)
        if line is None:
            click.echo(f"{name}: exact (hash 0x{exact.hash().hex()})")
        else:
            differ += 1
            click.echo(f"{name}: not exact: {line}")
    click.echo(f"{len(lists) - differ} of {counted(len(lists), 'list')} exact", err=True)
    return differ


@main.command()
@click.argument("target")
@click.option("--tx", "tx", type=click.IntRange(min=0), help="A transaction to follow: its executions, the chain "
              "of dependencies that held it back, and what it read against what it should have seen "
              "[default: of those redone, the one with the longest chain].")
@click.option("--strategy", type=click.Choice(sorted(STRATEGIES)), default="occ", show_default=True,
              help="The strategy whose run is explained.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Processes, the coordinator included.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Also write a folder with gantt.png and index.html (every table in full).")
@click.option("--limit", type=click.IntRange(min=0), default=12, show_default=True,
              help="Thrown-away executions and wrong reads listed on the terminal.")
@click.option("--hints", "hints_path", type=click.Path(path_type=Path),
              help="Access lists for the strategy, as for run (a declared strategy's, or bal's EIP-7928 lists).")
@REDO_OPTION
def explain(target, tx, strategy, workers, output, limit, hints_path, redo) -> None:
    """Debug one block's schedule: who ran which transaction when, and why work was redone.

    TARGET is one block (a block dump path, or a workload spec such as
    erc20:txs=200,hot=0.5). The block runs serially (the reference), once with
    the strategy to start its workers, then once traced. Every execution of
    that run is placed on a time line per process and labelled: committed,
    redone, or thrown away, and why (a stale read names the location, the
    value seen, the value it should have seen and the transaction that wrote
    it; a blocked one names the writer it waits for). The run's outcome is
    checked equal to serial's; a difference exits with status 1.
    """
    from parexec.analysis.schedule_explain import ResultsDiffer, explain_target
    from parexec.model import BlockRejected
    from parexec.report.explain_report import text_lines, write_page

    loaded = _load_targets([target])
    if len(loaded) != 1:
        click.echo(f"error: {target} names {len(loaded)} blocks; explain takes one (e.g. .../blocks/N)", err=True)
        sys.exit(2)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        run = explain_target(loaded[0], strategy, workers, tx, hints=load_hints(hints_path), redo=redo)
    except IndexError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except BlockRejected as exc:
        click.echo(f"error: {loaded[0].name} is invalid: {exc}", err=True)
        sys.exit(1)
    except ResultsDiffer as exc:
        click.echo(f"error: results differ from serial: {exc}", err=True)
        sys.exit(1)
    for line in text_lines(run, limit):
        out.print(line)
    if output:
        out.print(f"report: {write_page(run, output)}")


@main.command()
@click.argument("blocks", nargs=-1, required=True)
@click.option("--rpc", envvar="PAREXEC_RPC_URL", required=True, show_envvar=True,
              help="The node's JSON-RPC address (http:// or https://); it must serve debug_traceBlockByNumber.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The dump folder: blocks/N/, bytecodes.json.gz, block_hashes.json (created, or resumed).")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="Requests in flight at most (and blocks downloaded at once).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=120.0, show_default=True,
              help="Seconds to wait for one answer before retrying (tracing a big block takes a while).")
@click.option("--attempts", type=click.IntRange(min=1), default=6, show_default=True,
              help="Tries per request (timeouts, rate limits, server errors, malformed replies).")
def fetch(blocks, rpc, out, concurrency, timeout, attempts) -> None:
    """Fetch blocks from a node into the mainnet dump format, ready for every command.

    BLOCKS are numbers N or ranges FROM-TO. Each block's answer
    (eth_getBlockByNumber) and its pre-state (debug_traceBlockByNumber with the
    prestateTracer) are fetched; the block is then executed on them, and what the
    tracer leaves out (BLOCKHASH's hashes, EIP-7702 delegation targets' code,
    state read by system calls) is asked of the node at block N-1 as the run
    reads it. A block is written only if the run reproduces its header, and
    whole (never half); blocks already in --out are skipped. The last line is
    `N fetched, K already there, M failed`; the status is 0 only when nothing failed.
    """
    from parexec.rpc.client import RpcClient
    from parexec.rpc.fetch import NodeLacksMethod, fetch_blocks, parse_block_list

    try:
        numbers = parse_block_list(list(blocks))
        client = RpcClient(rpc, concurrency=concurrency, timeout=timeout, attempts=attempts)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    err = Console(stderr=True)
    try:
        with _progress_bar(err) as progress:
            task = progress.add_task("fetching", total=len(numbers))

            def on_block(number: int, status: str) -> None:
                retries = sum(client.retries.values())
                progress.update(task, advance=1, description=f"block {number} {status}, {retries} retries")

            summary = fetch_blocks(client, numbers, out, concurrency, on_block)
    except NodeLacksMethod as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except ValueError as exc:  # an unreadable dump folder
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        client.close()
    for number, reason in sorted(summary.failed.items()):
        click.echo(f"failed {number}: {reason}")
    if summary.asked:
        click.echo(f"asked the node for {summary.asked} accounts and slots the tracer left out "
                   f"({summary.kept} of them hold something)")
    if client.retries:
        click.echo("retried: " + ", ".join(f"{n} after {why}" for why, n in sorted(client.retries.items())))
    click.echo(f"{len(summary.fetched)} fetched, {len(summary.skipped)} already there, "
               f"{len(summary.failed)} failed")
    sys.exit(1 if summary.failed else 0)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Run each block as a Ray task: on the cluster at ADDRESS (e.g. ray://head:10001 or auto), "
                   "or, with no address, on a Ray started here. Put it after the paths, or write --ray=ADDRESS.")
@click.option("--strategies", default="occ", show_default=True, callback=_strategy_list,
              help="Comma-separated strategies verified and timed after serial.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Processes per block (a Ray task reserves as many CPUs).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every block's row, the totals and the machine as JSON.")
@HINTS_OPTION
def replay(paths, ray_address, strategies, workers, json_path, hints_path) -> None:
    """Verify and time many blocks, in this process or as Ray tasks across a cluster.

    PATHS are what `verify` takes. Each block is verified serially against what
    the chain says, then with each strategy (against the chain and serial's
    outcome), every run timed. With --ray each block is a Ray task that runs
    parexec's own worker pool on its node; a task whose worker dies is re-run,
    a block that fails is run once more, and every block ends as a row. Prints
    each failure, a table of the totals and blocks/s, and how each strategy
    that takes --hints ran the blocks; the last line is "N passed, M failed",
    and the status is 0 only if nothing failed. On a cluster every node reads
    the blocks and the --hints lists at the same paths.
    """
    import json

    from parexec.benchmarking import machine_info
    from parexec.cluster.replay import replay_here, replay_on_ray
    from parexec.report.tables import replay_table

    paths = list(paths)
    strategies = [s for s in strategies if s != "serial"]  # serial runs first anyway
    if ray_address not in (None, "local") and Path(ray_address).exists():
        paths.append(ray_address)  # a path after a bare --ray, not an address
        ray_address = "local"
    try:
        cases = find_cases([Path(p) for p in paths])
    except FixtureError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if hints_path is not None:
        load_hints(hints_path)  # a bad path fails here, before any block runs
    hints = None if hints_path is None else str(hints_path.resolve())  # as every task (on any node) reads it
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True)
    with _progress_bar(err) as progress:
        task = progress.add_task("replay", total=len(cases))

        def on_row(row) -> None:
            if row.status == "failed":
                progress.console.print(f"FAILED {row.case}: {row.detail}", markup=False, highlight=False)
            progress.update(task, advance=1, description=f"replay {row.case}")

        if ray_address is None:
            result = replay_here(cases, strategies, workers, on_row, hints)
        else:
            try:
                import ray  # noqa: F401
            except ImportError:
                click.echo("error: --ray needs Ray: pip install 'parexec[ray]'", err=True)
                sys.exit(2)
            try:
                result = replay_on_ray(cases, strategies, workers, None if ray_address == "local" else ray_address,
                                       on_row, hints)
            except ConnectionError as exc:
                click.echo(f"error: cannot reach the Ray cluster at {ray_address}: {exc}", err=True)
                sys.exit(2)
    if not err.is_terminal:  # the progress bar printed nothing: the failures go to the output
        for row in result.rows:
            if row.status == "failed":
                out.print(f"FAILED {row.case}: {row.detail}", markup=False)
    out.print(replay_table(result, strategies, workers))
    out.print(f"{len(result.rows)} blocks in {result.seconds:.1f} s on {result.where}: "
              f"{result.blocks_per_second:.2f} blocks/s")
    for line in result.ran_lines():
        out.print(line)
    if json_path:
        json_path.write_text(json.dumps({
            "where": result.where, "seconds": result.seconds, "blocks_per_second": result.blocks_per_second,
            "summary": result.summary(), "machine": machine_info(),
            "rows": [row.to_json() for row in result.rows]}, indent=1))
    click.echo(result.summary())
    sys.exit(1 if result.count("failed") else 0)


@main.command()
@click.option("--data", "data", type=click.Path(file_okay=False, path_type=Path), default=Path("../shared/data"),
              show_default=True, help="The shared data (its mainnet/blocks are measured when it is there).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="The report folder (index.html and its plots).")
@click.option("--quick", is_flag=True, help="Small blocks, one run each, three mainnet blocks (a minute).")
def demo(data: Path, output: Path, quick: bool) -> None:
    """Measure what parexec finds on this machine and write a report.

    Synthetic workloads across contention levels and every shared mainnet block
    (verified), each timed with occ, block-stm and bal at 2 workers (bal with the
    block's exact EIP-7928 list, written from a serial run first), beside its
    dependency bound and its list's; simulated speedups up to 64 workers with the
    published figures beside them, the hotspots, and a short chain import with
    every state root checked.
    Every parallel result is compared with serial's. Ends with a summary table
    and report/index.html, which opens offline.
    """
    from parexec.benchmarking import BenchMismatch
    from parexec.report.demo import QUICK, DemoSizes, run_demo
    from parexec.report.html_report import write_report
    from parexec.report.tables import demo_table

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    if not (data / "mainnet" / "blocks").is_dir():
        out.print(f"no shared data at {data} (--data): the report leaves the mainnet blocks out")
        data = None
    err = Console(stderr=True)

    def show(text: str, done: int, total: int) -> None:
        if err.is_terminal:
            progress.update(task, description=text, completed=done, total=total)
        else:  # a log: a line a step
            err.print(f"[{done}/{total}] {text}", highlight=False)

    try:
        with _progress_bar(err) as progress:
            task = progress.add_task("demo")
            result = run_demo(data, QUICK if quick else DemoSizes(), progress=show)
    except BenchMismatch as exc:
        click.echo(f"error: results differ from serial: {exc}", err=True)
        sys.exit(1)
    page = write_report(result, output)
    out.print(demo_table(result))
    out.print(f"report: {page}")


def _add_chain_commands() -> None:
    from parexec.chain.commands import chain

    main.add_command(chain)


_add_chain_commands()

if __name__ == "__main__":
    main()
