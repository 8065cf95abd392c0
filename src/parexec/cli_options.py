"""Options several commands share (`run`, `verify`, `bench`, `explain`, `chain
import`): where access lists come from and what a strategy does with them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from parexec.model import FixtureError

HINTS_OPTION = click.option(
    "--hints", "hints_path", type=click.Path(path_type=Path),
    help="Block access lists (a file from `parexec access-list`, or a folder of them): "
    "parexec lists for the declared-access strategies, EIP-7928 lists (--format eip7928) for bal "
    "(one .rlp file not named NUMBER-HASH is the list of whichever block runs); "
    "a block without one runs with occ (a declared strategy's, with --predict, is predicted by pre-execution).",
)
PREDICT_OPTION = click.option(
    "--predict", is_flag=True,
    help="Declared-access strategies: predict a block without an access list by pre-execution "
    "(default: it runs with occ, which costs less).",
)
REDO_OPTION = click.option(
    "--redo", type=click.Choice(["auto", "on", "off"]), default=None,
    help="occ, block-stm: repair a stale speculative result by recomputing only the operations that depend on "
    "what changed (auto: log operations for transactions that call a contract an earlier one of the "
    "block calls, unless that contract's logs cost more than its repairs saved in the blocks run "
    "before; on: for all)  [default: auto for occ, off for block-stm]. PAREXEC_REDO_CHECK=1 "
    "checks every repair against full execution.",
)
FALLBACK_OPTION = click.option(
    "--fallback", is_flag=True,
    help="bal: a block whose EIP-7928 list a transaction disagrees with runs with dag "
    "(without it, the block is invalid under list semantics).",
)


def load_hints(path: Path | None):
    """The access lists under ``path`` (None: no hints); exits 2 on a bad path."""
    if path is None:
        return None
    from parexec.access.access_list import AccessListHints

    try:
        return AccessListHints(path)
    except FixtureError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
