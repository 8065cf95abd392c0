"""The command line's tables: rows (as the commands also write them as JSON) in, a
rich Table out."""

from __future__ import annotations

from rich.table import Table

from parexec.analysis.what_if import COORDINATOR, SHARES
from parexec.peak_memory import PeakMemory


def _table(title: str, columns: list[str], left: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right")
    return table


def strategies_table(rows: list[dict]) -> Table:
    table = _table("parexec strategies", ["name", "engine", "simulated", "--hints", "what it is"],
                   ("name", "engine", "simulated", "--hints", "what it is"))
    for r in rows:
        table.add_row(r["name"], r["engine"] or "-", "yes" if r["simulated"] else "no",
                      "yes" if r["hints"] else "-", r["summary"])
    return table


def run_table(rows: list[dict], strategy: str, workers: int) -> Table:
    table = _table(f"parexec run: {strategy}, {workers} workers",
                   ["target", "txs", "gas", "seconds", "mode", "executions", "reexecutions", "receipts root"],
                   ("target", "mode", "receipts root"))
    for r in rows:
        table.add_row(r["target"], str(r["txs"]), f"{r['gas']:,}", f"{r['seconds']:.3f}", r["mode"],
                      str(r["executions"]), str(r["reexecutions"]), r["receipts_root"][:18] + "...")
    return table


def bench_table(rows: list[dict], workers: int, repeat: int) -> Table:
    """``per round``: the lowest and highest of a strategy's ratios round by round
    (serial's run over its run in the same round), how far noise moves one ratio."""
    table = _table(f"parexec bench: {workers} workers, median of {repeat}",
                   ["target", "strategy", "workers", "txs", "gas", "seconds", "speedup", "per round",
                    "reexecutions", "peak MiB"], ("target", "strategy"))
    for r in rows:
        table.add_row(r["target"], r["strategy"], str(r["workers"]), str(r["txs"]), f"{r['gas']:,}",
                      f"{r['seconds']:.3f}", f"{r['speedup']:.2f}x", _round_range(r), str(r["reexecutions"]),
                      PeakMemory(**r["peak_rss"]).text() if r.get("peak_rss") else "-")
    return table


def _round_range(row: dict) -> str:
    ratios = row.get("round_speedups") or []
    if row["strategy"] == "serial" or len(ratios) < 2:
        return "-"
    return f"{min(ratios):.2f}-{max(ratios):.2f}x"


def counter_lines(rows: list[dict]) -> list[str]:
    """One line per row that has strategy counters (the declared-access strategies'
    and bal's, occ's repairs): where their knowledge came from, and what they counted."""
    return [f"{r['strategy']} on {r['target']}" + (f" ({r['hints']})" if r.get("hints") else "") + ": "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["counters"].items())
            for r in rows if r["counters"]]


def analyze_table(summaries: list[dict], granularity: str) -> Table:
    table = _table(f"parexec analyze: {granularity} granularity",
                   ["target", "txs", "gas", "independent", "depth", "critical path (gas)",
                    "critical path (ms)", "bound", "bound with a list", "hottest location"],
                   ("target", "hottest location"))
    for s in summaries:
        hot = s["hotspots"][0] if s["hotspots"] else None
        where = "-" if hot is None else (
            f"{hot['address'][:12]}... {'slot ' + hot['slot'] if hot['slot'] else hot['field'] or ''}"
            f" ({hot['dependents']})"
        )
        table.add_row(s["target"], str(s["txs"]), f"{s['gas']:,}", f"{s['independent_share']:.0%}",
                      str(s["depth"]), f"{s['critical_path_gas']:,}", f"{1e3 * s['critical_path_seconds']:.1f}",
                      f"{s['parallelism_bound']:.1f}x", f"{s['list_bound']:.1f}x", where)
    return table


def simulate_table(rows: list[dict], worker_counts: list[int]) -> Table:
    """Targets and strategies in the order of ``rows``; a measured speedup, where
    there is one, in parentheses beside the prediction."""
    table = Table(title="parexec simulate: predicted speedups "
                        f"(simulated; {', '.join(map(str, worker_counts))} workers)")
    table.add_column("target")
    table.add_column("strategy")
    for n in worker_counts:
        table.add_column(f"{n}", justify="right")
    table.add_column("bound", justify="right")
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["target"], r["strategy"]), []).append(r)
    for (target, strategy), mine in groups.items():
        cells = []
        for r in mine:
            cell = f"{r['predicted_speedup']:.2f}x"
            if "measured_speedup" in r:
                cell += f" ({r['measured_speedup']:.2f}x)"
            cells.append(cell)
        table.add_row(target, strategy, *cells, f"{mine[0]['bound_critical_path']:.1f}x")
    return table


def what_if_table(what) -> Table:
    """analysis.what_if.WhatIfs: each overhead as calibrated, and the speedup with it at zero."""
    table = _table(f"parexec simulate --what-if: {what.strategy} at {what.workers} workers "
                   f"(simulated; geometric mean over {what.targets} targets)",
                   ["overhead", "calibrated", "counted", "speedup with it at zero", "gain"],
                   ("overhead", "calibrated", "counted"))
    table.add_row("(as calibrated)", "", "", f"{what.as_calibrated:.2f}x", "")
    for row in what.rows:
        if row.overhead in SHARES:
            value = f"{row.values[row.overhead]:.1%}"
        elif "send_byte" in row.values:  # a message, and per byte of it
            value = f"{row.values['send'] * 1e6:.1f} us + {row.values['send_byte'] * 1e9:.3f} ns a byte"
        else:
            value = " + ".join(f"{v * 1e6:.1f}" for v in row.values.values()) + " us"
        table.add_row(row.overhead, value, row.counted,
                      f"{row.speedup:.2f}x", f"{row.speedup / what.as_calibrated - 1:+.1%}")
    if what.coordinator_free is not None:
        table.add_row("(the coordinator's, all)", "", ", ".join(COORDINATOR) + " at zero together",
                      f"{what.coordinator_free:.2f}x", f"{what.coordinator_free / what.as_calibrated - 1:+.1%}")
    table.add_row("(none at all)", "", "", f"{what.without_any:.2f}x",
                  f"{what.without_any / what.as_calibrated - 1:+.1%}")
    return table


def conformance_table(results) -> Table:
    """Verification results by fork and feature (EIP): passed, failed, skipped."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in results:
        row = counts.setdefault((r.fork or "-", r.feature or "-"), {"passed": 0, "failed": 0, "skipped": 0})
        row[r.status] += 1
    table = _table("parexec verify: by fork and feature", ["fork", "feature", "passed", "failed", "skipped"],
                   ("fork", "feature"))
    for (fork, feature), row in sorted(counts.items()):
        table.add_row(fork, feature, str(row["passed"]), str(row["failed"]), str(row["skipped"]))
    return table


def chain_bench_table(results, blocks: int, spec: str) -> Table:
    """parexec chain bench: one row per configuration, every run's blocks/s."""
    table = _table(f"parexec chain bench: {spec} ({blocks} blocks), every state root checked",
                   ["configuration", "blocks/s (each run)", "median", "execution ms/block",
                    "state root ms/block", "persistence ms/block", "peak MB (median)"],
                   ("configuration", "blocks/s (each run)", "peak MB (median)"))
    for r in results:
        runs = r.blocks_per_second
        peaks = {}
        for run in r.runs:
            for process, mb in run.peak_mb.items():
                peaks.setdefault(process, []).append(mb)
        table.add_row(r.config.name, " ".join(f"{x:.1f}" for x in runs), f"{sorted(runs)[len(runs) // 2]:.1f}",
                      f"{r.median('execution') / blocks * 1000:.0f}", f"{r.median('state_root') / blocks * 1000:.1f}",
                      f"{r.median('persistence') / blocks * 1000:.1f}",
                      ", ".join(f"{p} {sorted(v)[len(v) // 2]:.0f}" for p, v in peaks.items()))
    return table


def chain_bench_lines(figures: dict) -> list[str]:
    lines = [
        f"state root: {figures['state_root_ms_per_block']:.1f} ms a block, "
        f"{figures['state_root_share_of_serial_execution'] * 100:.0f}% of serial execution "
        f"({figures['serial_execution_ms_per_block']:.0f} ms a block; target at most 20%)",
        "pipelining: " + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in figures["pipelining"].items())
        + " (blocks/s pipelined over one block at a time)",
    ]
    if "best_parallel" in figures:
        lines.append(f"end to end: {figures['best_parallel']} imports {figures['best_parallel_vs_serial']:.2f}x "
                     f"as many blocks/s as serial one block at a time (target at least 1.4x), "
                     f"{figures['best_parallel_vs_serial_pipelined']:.2f}x serial pipelined")
    return lines


def demo_table(result) -> Table:
    """parexec demo's summary: the median speedup of each strategy per workload
    across contention levels, the mainnet geometric mean, the chain import."""
    import statistics

    strategies = [s for s in dict.fromkeys(r["strategy"] for r in result.workloads) if s != "serial"]
    table = _table("parexec demo: speedup over serial at 2 workers (every result equal to serial's)",
                   ["what", *strategies], ("what",))
    for name in dict.fromkeys(r["workload"] for r in result.workloads):
        row = [name + " (hot 0 / 0.5 / 1)"]
        for s in strategies:
            values = [r["speedup"] for r in result.workloads if r["workload"] == name and r["strategy"] == s]
            row.append(" / ".join(f"{v:.2f}x" for v in values))
        table.add_row(*row)
    if result.blocks:
        table.add_row(f"{len(result.blocks)} mainnet blocks (geometric mean)",
                      *(f"{statistics.geometric_mean(b['speedups'][s] for b in result.blocks):.2f}x"
                        for s in strategies))
    if result.chain:
        table.add_row(f"chain import ({result.chain['blocks']} blocks, occ pipelined vs serial)",
                      *(f"{result.chain['speedup']:.2f}x" if s == "occ" else "-" for s in strategies))
    return table


def contract_table(rows: list[dict], address: str, blocks: int) -> Table:
    """analyze --contract: the contract's locations that make transactions wait."""
    table = _table(f"what makes callers of {address} wait ({blocks} blocks)",
                   ["slot or field", "blocks", "transactions waiting", "share of the blocks' waiting"],
                   ("slot or field",))
    for r in rows:
        table.add_row(r["slot"] or r["field"] or "account", str(r["blocks"]), str(r["waiting"]), f"{r['share']:.0%}")
    if not rows:
        table.add_row("(nothing of it makes a transaction wait)", "-", "-", "-")
    return table


def replay_table(result, strategies: list[str], workers: int) -> Table:
    """parexec replay's totals: per strategy, the blocks that passed, the
    geometric-mean and median speedup over serial, and the time spent."""
    import statistics

    table = _table(f"replay on {result.where}: {len(result.rows)} blocks, {workers} workers per block",
                   ["strategy", "passed", "geometric-mean speedup", "median speedup", "seconds"], ("strategy",))
    for name in ["serial", *strategies]:
        timed = [r for r in result.rows if name in r.seconds]
        speedups = [r.speedup[name] for r in timed if name in r.speedup]
        table.add_row(name, f"{len(timed)}/{len(result.rows)}",
                      f"{statistics.geometric_mean(speedups):.2f}x" if speedups else "-",
                      f"{statistics.median(speedups):.2f}x" if speedups else "-",
                      f"{sum(r.seconds[name] for r in timed):.1f}")
    return table
