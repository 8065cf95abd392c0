"""The ``parexec`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parexec import __version__
from parexec.fixtures.discover import find_cases
from parexec.model import FixtureError
from parexec.strategies import STRATEGIES, get_strategy
from parexec.verifier import run_cases

DEFAULT_WORKERS = os.cpu_count() or 1


@click.group()
@click.version_option(__version__, prog_name="parexec")
def main() -> None:
    """Execute Ethereum blocks in parallel, exactly as serial execution would."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--strategy",
    type=click.Choice(sorted(STRATEGIES)),
    default="serial",
    show_default=True,
    help="How to execute each block's transactions.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Worker processes for parallel strategies (serial ignores it).",
)
def verify(paths: tuple[Path, ...], strategy: str, workers: int) -> None:
    """Execute fixtures and check every result against the expected one.

    A PATH is an ethereum/tests BlockchainTests file, a mainnet block folder
    (blocks/N with the dataset's bytecodes.json.gz two levels up), the Prague
    dump folder, or any folder searched recursively for these. Each failure is
    printed on one line with its first difference; the last line is
    "N passed, M failed". The exit status is 0 only if nothing failed.
    """
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        cases = find_cases(list(paths))
    except FixtureError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    chosen = get_strategy(strategy)

    def report(result):
        if result.status == "failed":
            out.print(f"FAILED {result.name}: {result.detail}", markup=False)

    if err.is_terminal:
        with Progress(
            TextColumn("[bold]verify[/] {task.fields[current]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("verify", total=len(cases), current="")

            def step(result):
                report(result)
                progress.update(task, advance=1, current=result.name[:60])

            tally = run_cases(cases, chosen, workers, step)
    else:
        tally = run_cases(cases, chosen, workers, report)
    out.print(tally.summary(), markup=False)
    sys.exit(1 if tally.count("failed") else 0)


if __name__ == "__main__":
    main()
