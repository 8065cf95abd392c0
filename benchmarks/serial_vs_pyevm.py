"""Per-transaction cost of parexec's ``serial`` strategy against plain py-evm.

Both sides execute the same mainnet blocks (the shared dump in
``../shared/data/mainnet``), in the same process, with the same transaction
objects (senders already recovered and cached on them), and the ratio
parexec / py-evm is measured in one run.

What each side does, and what is timed:

* parexec, "block": ``execute_block(block, pre_state, SerialStrategy())``, the
  whole pipeline: the pre-block system writes, the transactions, the post-block
  writes (withdrawals, rewards), receipts and the state diff.
* parexec, "loop": the transaction phase of that same ``execute_block`` call,
  i.e. ``SerialStrategy.run_transactions`` (timed by a thin wrapper around the
  strategy, so no extra run is needed). Per transaction: the stateless validity
  checks (``tx.validate()``: one signature check), a py-evm State of the block's
  fork over parexec's RecordingAccountDB, ``validate_transaction`` against the
  state (nonce, balance, fee caps), the message, the computation, finalisation,
  the logs bloom and log encoding for the receipt, and applying the write set to
  the block's overlay.
* py-evm: a stock py-evm State of the block's fork over its own trie-backed
  AccountDB on an ``AtomicDB`` holding the pre-state, then for every
  transaction ``state.lock_changes(); state.apply_transaction(tx)``.
  ``apply_transaction`` runs ``tx.validate()``, which re-checks the signature on
  every call (a recovery of the key, in this process as parexec checks it:
  parexec.evm.pyevm_patches; py-evm alone also verifies the signature with it);
  the "sig" column is the time of exactly those signature checks, measured
  separately, so the reader can subtract it.
  Only the transaction loop is timed: not loading the block, not building the
  py-evm pre-state trie, not constructing the State, not the pre-block
  beacon-root / history writes (done untimed, as py-evm's ``block_preprocessing``
  does). No receipts and no intermediate state roots are made on either side's
  loop.

Each block is run ``--repeat`` times per side, alternating the order (A B B A
...), and the median is kept. The py-evm baseline is validated: the sum of
``vm_class.finalize_gas_used(tx, computation)`` must equal the header's gasUsed,
and parexec's outcome must too; a block failing either is reported and excluded.

Usage (from the repo root)::

    .venv/bin/python benchmarks/serial_vs_pyevm.py --repeat 3
    .venv/bin/python benchmarks/serial_vs_pyevm.py --blocks 46147,4370000 --repeat 1 --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "mainnet"
TARGET = 1.1
# This block calls the point-evaluation precompile, whose first call in a process
# loads the KZG trusted setup (seconds, on both sides alike; parexec caches it
# afterwards, and the cache is process-wide): summarised separately too.
KZG_BLOCK = 19932703

# Wide enough for the table when the output goes to a file or a pipe (make bench | tee).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 150)


def die(message: str, status: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}")
    sys.exit(status)


# --------------------------------------------------------------------- parexec
class TimedStrategy:
    """SerialStrategy, with the wall time of its transaction phase recorded."""

    name = "serial"

    def __init__(self, inner):
        self.inner = inner
        self.seconds = None

    def run_transactions(self, env, block, state, workers=1):
        started = time.perf_counter()
        result = self.inner.run_transactions(env, block, state, workers)
        self.seconds = time.perf_counter() - started
        return result


def run_parexec(block, pre_state):
    """One execute_block; returns (block seconds, tx-loop seconds, gas used)."""
    from parexec.block.pipeline import execute_block
    from parexec.strategies.serial import SerialStrategy

    strategy = TimedStrategy(SerialStrategy())
    gc.collect()
    started = time.perf_counter()
    outcome = execute_block(block, pre_state, strategy)
    total = time.perf_counter() - started
    return total, strategy.seconds, outcome.gas_used


# ---------------------------------------------------------------------- py-evm
class PyEvmBaseline:
    """A stock py-evm State of the block's fork, over a trie holding the pre-state."""

    def __init__(self, block, pre_state):
        from eth.constants import BLANK_ROOT_HASH
        from eth.db.atomic import AtomicDB
        from parexec.block.env import BlockEnv
        from parexec.model import EMPTY_CODE_HASH

        self.block = block
        self.vm_class = block.vm_class
        self.state_class = self.vm_class.get_state_class()
        # The same plain py-evm ExecutionContext parexec builds (chain id 1, an
        # indexable ancestor-hash sequence for BLOCKHASH).
        self.context = BlockEnv.for_block(block).context

        self.db = AtomicDB()
        state = self.state_class(self.db, self.context, BLANK_ROOT_HASH)
        for address, account in pre_state.accounts.items():
            state.touch_account(address)
            state.set_nonce(address, account.nonce)
            state.set_balance(address, account.balance)
            if account.code_hash != EMPTY_CODE_HASH:
                state.set_code(address, pre_state.codes[account.code_hash])
            for slot, value in pre_state.slots.get(address, {}).items():
                if value:
                    state.set_storage(address, slot, value)
        state.persist()
        self.root = state.state_root

    def fresh_state(self):
        """A State at the pre-state root, with py-evm's block_preprocessing writes."""
        state = self.state_class(self.db, self.context, self.root)
        fork = {c.fork for c in self.vm_class.__mro__ if isinstance(getattr(c, "fork", None), str)}
        header = self.block.header
        if "cancun" in fork:
            from eth.vm.forks.cancun.constants import (
                BEACON_ROOTS_ADDRESS,
                BEACON_ROOTS_CONTRACT_CODE,
                HISTORY_BUFFER_LENGTH,
            )

            if state.get_code(BEACON_ROOTS_ADDRESS) == BEACON_ROOTS_CONTRACT_CODE:
                state.set_storage(
                    BEACON_ROOTS_ADDRESS, header.timestamp % HISTORY_BUFFER_LENGTH, header.timestamp
                )
                state.set_storage(
                    BEACON_ROOTS_ADDRESS,
                    header.timestamp % HISTORY_BUFFER_LENGTH + HISTORY_BUFFER_LENGTH,
                    int.from_bytes(header.parent_beacon_block_root, "big"),
                )
        if "prague" in fork:
            from eth.vm.forks.prague.constants import (
                HISTORY_SERVE_WINDOW,
                HISTORY_STORAGE_ADDRESS,
                HISTORY_STORAGE_CONTRACT_CODE,
            )

            if state.get_code(HISTORY_STORAGE_ADDRESS) == HISTORY_STORAGE_CONTRACT_CODE:
                state.set_storage(
                    HISTORY_STORAGE_ADDRESS,
                    (header.block_number - 1) % HISTORY_SERVE_WINDOW,
                    int.from_bytes(header.parent_hash, "big"),
                )
        return state

    def run(self):
        """One timed transaction loop; returns (seconds, gas used)."""
        state = self.fresh_state()
        txs = self.block.transactions
        gc.collect()
        computations = []
        started = time.perf_counter()
        for tx in txs:
            state.lock_changes()
            computations.append(state.apply_transaction(tx))
        seconds = time.perf_counter() - started
        finalize = self.vm_class.finalize_gas_used
        gas = sum(finalize(tx, c) for tx, c in zip(txs, computations))
        return seconds, gas


def signature_seconds(block) -> float:
    """The time of one signature check per transaction (what apply_transaction repeats)."""
    started = time.perf_counter()
    for tx in block.transactions:
        tx.check_signature_validity()
    return time.perf_counter() - started


# ----------------------------------------------------------------------- bench
def bench_block(block_dir: Path, repeat: int, warmup: bool = False) -> dict:
    from parexec.fixtures.mainnet import load_block

    block, pre_state, expected = load_block(block_dir)
    number = block.number
    row = {
        "block": number,
        "fork": block.fork,
        "txs": len(block.transactions),
        "gas_used": expected["gas_used"],
        "excluded": None,
    }
    try:
        baseline = PyEvmBaseline(block, pre_state)
    except Exception as exc:  # noqa: BLE001 - any failure excludes the block
        row["excluded"] = f"py-evm pre-state: {exc!r}"
        return row

    p_block, p_loop, e_loop = [], [], []

    def side_parexec():
        total, loop, gas = run_parexec(block, pre_state)
        if gas != expected["gas_used"]:
            raise Mismatch(f"parexec gas used {gas} != header gasUsed {expected['gas_used']}")
        p_block.append(total)
        p_loop.append(loop)

    def side_pyevm():
        seconds, gas = baseline.run()
        if gas != expected["gas_used"]:
            raise Mismatch(f"py-evm gas used {gas} != header gasUsed {expected['gas_used']}")
        e_loop.append(seconds)

    if warmup:
        # One untimed run of each side first: lazy imports and first-call caches
        # would otherwise land on whichever side happens to run first.
        try:
            run_parexec(block, pre_state)
            baseline.run()
        except Exception:  # noqa: BLE001 - the timed runs below report it
            pass

    sides = (("parexec", side_parexec), ("py-evm", side_pyevm))
    for r in range(repeat):
        order = sides if r % 2 == 0 else sides[::-1]  # A B B A A B ...
        for name, side in order:
            try:
                side()
            except Mismatch as exc:
                row["excluded"] = str(exc)
                return row
            except Exception as exc:  # noqa: BLE001
                row["excluded"] = f"{name} failed: {exc!r}"
                return row

    row["parexec_block_s"] = statistics.median(p_block)
    row["parexec_loop_s"] = statistics.median(p_loop)
    row["pyevm_s"] = statistics.median(e_loop)
    row["sig_s"] = signature_seconds(block)
    row["runs"] = {"parexec_block": p_block, "parexec_loop": p_loop, "pyevm": e_loop}
    e = row["pyevm_s"]
    row["ratio_loop"] = row["parexec_loop_s"] / e if e > 0 else None
    row["ratio_block"] = row["parexec_block_s"] / e if e > 0 else None
    row["ratio_loop_vs_nosig"] = (
        row["parexec_loop_s"] / (e - row["sig_s"]) if e - row["sig_s"] > 0 else None
    )
    return row


class Mismatch(Exception):
    pass


def geomean(values) -> float | None:
    values = [v for v in values if v]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summarize(rows: list[dict]) -> dict | None:
    rows = [r for r in rows if not r["excluded"] and r["txs"] > 0]
    if not rows:
        return None
    txs = sum(r["txs"] for r in rows)
    tot = {k: sum(r[k] for r in rows) for k in ("parexec_loop_s", "parexec_block_s", "pyevm_s", "sig_s")}
    nosig = tot["pyevm_s"] - tot["sig_s"]
    return {
        "blocks": len(rows),
        "txs": txs,
        "parexec_loop_us_per_tx": tot["parexec_loop_s"] / txs * 1e6,
        "parexec_block_us_per_tx": tot["parexec_block_s"] / txs * 1e6,
        "pyevm_us_per_tx": tot["pyevm_s"] / txs * 1e6,
        "sig_us_per_tx": tot["sig_s"] / txs * 1e6,
        "ratio_loop_totals": tot["parexec_loop_s"] / tot["pyevm_s"],
        "ratio_block_totals": tot["parexec_block_s"] / tot["pyevm_s"],
        "ratio_loop_vs_nosig_totals": tot["parexec_loop_s"] / nosig if nosig > 0 else None,
        "ratio_loop_geomean": geomean(r["ratio_loop"] for r in rows),
        "ratio_block_geomean": geomean(r["ratio_block"] for r in rows),
        "ratio_loop_vs_nosig_geomean": geomean(r["ratio_loop_vs_nosig"] for r in rows),
        "totals_s": tot,
    }


# ------------------------------------------------------------------------ main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per side per block (default 3)")
    ap.add_argument("--blocks", help="comma-separated block numbers (default: every block folder)")
    ap.add_argument("--json", type=Path, help="write the rows and the summary to this file")
    ap.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"the mainnet dataset folder (default: {DEFAULT_DATA})",
    )
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    return args


def block_dirs(data: Path, blocks_arg: str | None) -> list[Path]:
    blocks_root = data / "blocks"
    if not blocks_root.is_dir() or not (data / "bytecodes.json.gz").is_file():
        die(
            f"mainnet data not found: expected {blocks_root}/N/ and {data}/bytecodes.json.gz "
            "(the shared data set lives in ../shared/data/mainnet relative to the repo root; "
            "pass --data to point elsewhere)"
        )
    if blocks_arg:
        dirs = []
        for part in blocks_arg.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit():
                die(f"--blocks: {part!r} is not a block number")
            d = blocks_root / part
            if not (d / "block.json").is_file():
                die(f"block {part} not found in {blocks_root}")
            dirs.append(d)
    else:
        dirs = [d for d in blocks_root.iterdir() if d.is_dir() and d.name.isdigit()]
        if not dirs:
            die(f"no block folders in {blocks_root}")
    return sorted(dirs, key=lambda d: int(d.name))


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio_cell(x):
    if x is None:
        return "-"
    style = "green" if x <= TARGET else "red"
    return f"[{style}]{x:.3f}[/]"


def print_table(rows):
    t = Table(box=box.SIMPLE_HEAVY, title="parexec serial vs plain py-evm (median seconds per block)")
    for col, just in [
        ("block", "right"), ("fork", "left"), ("txs", "right"), ("Mgas", "right"),
        ("parexec loop", "right"), ("parexec block", "right"), ("py-evm loop", "right"),
        ("sig", "right"), ("loop/py-evm", "right"), ("block/py-evm", "right"),
        ("loop/(py-evm-sig)", "right"),
    ]:
        t.add_column(col, justify=just)
    for r in rows:
        if r["excluded"]:
            t.add_row(str(r["block"]), r["fork"], str(r["txs"]), f"{r['gas_used'] / 1e6:.1f}",
                      f"[yellow]excluded: {r['excluded'][:70]}[/]", *[""] * 6)
            continue
        t.add_row(
            str(r["block"]), r["fork"], str(r["txs"]), f"{r['gas_used'] / 1e6:.1f}",
            f"{r['parexec_loop_s']:.4f}", f"{r['parexec_block_s']:.4f}", f"{r['pyevm_s']:.4f}",
            f"{r['sig_s']:.4f}",
            ratio_cell(r["ratio_loop"]), ratio_cell(r["ratio_block"]),
            ratio_cell(r["ratio_loop_vs_nosig"]),
        )
    out.print(t)


def print_summary(title: str, s: dict | None):
    if s is None:
        out.print(f"[bold]{title}[/]: no block measured")
        return
    t = Table(box=box.SIMPLE, title=title, show_header=True)
    t.add_column("")
    t.add_column("parexec loop", justify="right")
    t.add_column("parexec block", justify="right")
    t.add_column("py-evm loop", justify="right")
    t.add_column("loop vs py-evm-sig", justify="right")
    t.add_row("µs per tx", f"{s['parexec_loop_us_per_tx']:.1f}", f"{s['parexec_block_us_per_tx']:.1f}",
              f"{s['pyevm_us_per_tx']:.1f}", f"{s['pyevm_us_per_tx'] - s['sig_us_per_tx']:.1f}")
    t.add_row("ratio of totals", ratio_cell(s["ratio_loop_totals"]), ratio_cell(s["ratio_block_totals"]),
              "1", ratio_cell(s["ratio_loop_vs_nosig_totals"]))
    t.add_row("geomean of block ratios", ratio_cell(s["ratio_loop_geomean"]),
              ratio_cell(s["ratio_block_geomean"]), "1", ratio_cell(s["ratio_loop_vs_nosig_geomean"]))
    out.print(t)
    out.print(f"  {s['blocks']} blocks, {s['txs']} transactions; "
              f"py-evm's repeated signature check: {s['sig_us_per_tx']:.1f} µs per tx")
    for label, key in (("tx loop", "ratio_loop_totals"), ("execute_block", "ratio_block_totals")):
        v = s[key]
        verdict = "[green]met[/]" if v <= TARGET else "[red]NOT met[/]"
        out.print(f"  target parexec/py-evm <= {TARGET} ({label}, ratio of totals {v:.3f}): {verdict}")


def main(argv=None) -> int:
    args = parse_args(argv)
    dirs = block_dirs(args.data, args.blocks)

    import parexec  # noqa: F401 - fail here, clearly, if the project is not installed

    out.print(f"{len(dirs)} blocks from {args.data}, repeat {args.repeat} (order alternates per repeat)")
    rows = []
    started = time.perf_counter()
    for i, d in enumerate(dirs, 1):
        t0 = time.perf_counter()
        row = bench_block(d, args.repeat, warmup=(i == 1))
        rows.append(row)
        if row["excluded"]:
            err.print(f"[yellow]warning:[/] block {row['block']} excluded: {row['excluded']}")
        else:
            err.print(
                f"[{i}/{len(dirs)}] {row['block']}: {row['txs']} txs, loop/py-evm "
                f"{row['ratio_loop']:.3f}, block/py-evm {row['ratio_block']:.3f} "
                f"({time.perf_counter() - t0:.1f}s)"
            )
    elapsed = time.perf_counter() - started

    print_table(rows)
    summary = summarize(rows)
    summary_no_kzg = summarize([r for r in rows if r["block"] != KZG_BLOCK])
    print_summary("Summary: all measured blocks", summary)
    if any(r["block"] == KZG_BLOCK for r in rows):
        print_summary(f"Summary without {KZG_BLOCK} (its point-evaluation call loads the KZG setup, ~2-4 s)",
                      summary_no_kzg)
    excluded = [r for r in rows if r["excluded"]]
    if excluded:
        out.print(f"[yellow]{len(excluded)} block(s) excluded:[/] "
                  + ", ".join(str(r["block"]) for r in excluded))
    out.print(f"benchmark wall time {elapsed:.0f}s")

    if args.json:
        payload = {
            "repeat": args.repeat,
            "target": TARGET,
            "data": str(args.data),
            "rows": rows,
            "summary": summary,
            f"summary_without_{KZG_BLOCK}": summary_no_kzg,
        }
        args.json.write_text(json.dumps(payload, indent=2))
        out.print(f"wrote {args.json}")
    if summary is None:
        err.print("[bold red]error:[/] no block could be measured")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
