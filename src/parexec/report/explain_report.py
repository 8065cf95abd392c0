"""What `parexec explain` shows: the run in text on the terminal, and a page
(``index.html`` beside ``gantt.png``) with the chart and every table in full."""

from __future__ import annotations

import html
from pathlib import Path

from parexec.analysis.schedule_explain import (
    ExplainedRun,
    Explanation,
    Read,
    location_text,
    writer_text,
)
from parexec.model import show
from parexec.parallel.run_trace import PRE_EXECUTION
from parexec.report.gantt import draw_gantt, process_name
from parexec.report.html_page import html_page, html_table

SNAPSHOT_ROWS = 200  # reads per execution listed on the page (the terminal lists the wrong ones)


def title(run: ExplainedRun) -> str:
    ex = run.explanation
    return (f"{run.target}: {ex.strategy} on {ex.workers} workers, {ex.txs} transactions in "
            f"{ex.duration * 1000:.1f} ms (serial {run.serial_seconds * 1000:.1f} ms)")


def _ms(ex: Explanation, t: float) -> str:
    return f"{(t - ex.origin) * 1000:.2f}"


def process_rows(ex: Explanation) -> list[list]:
    rows = []
    for p in ex.processes():
        mine = [e for e in ex.executions if e.span.process == p]
        busy = ex.busy(p)
        thrown = sum(1 for e in mine if e.label not in ("committed", "redo", "repaired"))
        share = f"{100 * busy / ex.duration:.0f}%" if ex.duration else "-"
        rows.append([process_name(p), len(mine), thrown, f"{busy * 1000:.1f}", share])
    return rows


def thrown_away_rows(ex: Explanation) -> list[list]:
    return [[e.tx, process_name(e.span.process), f"{_ms(ex, e.span.start)}-{_ms(ex, e.span.end)}",
             e.label, e.reason()] for e in ex.thrown_away()]


def execution_rows(run: ExplainedRun) -> list[list]:
    ex = run.explanation
    return [[process_name(e.span.process), e.span.phase, f"{_ms(ex, e.span.start)}-{_ms(ex, e.span.end)}",
             e.label, e.reason()] for e in ex.of_tx(run.focus)]


def chain_rows(run: ExplainedRun) -> list[list]:
    return [[link.tx, f"{link.committed_at * 1000:.2f}",
             ", ".join(location_text(k) for k in link.because[:3]) + (" …" if len(link.because) > 3 else "")]
            for link in run.explanation.held_back_by(run.focus)]


def read_rows(reads: list[Read]) -> list[list]:
    return [[location_text(r.location), show(r.seen), show(r.expected), writer_text(r.writer),
             "differs" if r.differs else ""] for r in reads]


def text_lines(run: ExplainedRun, limit: int = 12) -> list[str]:
    """The terminal's account of the run (rich markup)."""
    ex = run.explanation
    counts = ex.counts()
    lines = [f"[bold]{title(run)}[/]",
             "executions: " + ", ".join(f"{n} {label}" for label, n in counts.items() if n)]
    for name, count, thrown, busy, share in process_rows(ex):
        lines.append(f"  {name:<12} {count:>5} executions ({thrown} thrown away), busy {busy} ms ({share})")
    thrown = thrown_away_rows(ex)
    if thrown:
        lines.append(f"thrown away ({len(thrown)}{f', the first {limit}' if len(thrown) > limit else ''}):")
        for tx, where, when, label, reason in thrown[:limit]:
            lines.append(f"  tx {tx:<5} {label:<8} {where}, {when} ms: {reason}")
    if run.focus is None:
        return lines
    j = run.focus
    lines.append(f"[bold]transaction {j}[/], committed at {ex.committed_at[j] * 1000:.2f} ms")
    for where, phase, when, label, reason in execution_rows(run):
        extra = f" ({phase})" if phase == PRE_EXECUTION else ""
        lines.append(f"  {where}{extra}, {when} ms: {label}: {reason}")
    chain = ex.held_back_by(j)
    if len(chain) == 1:
        lines.append("  it depends on no earlier transaction")
    else:
        lines.append("  held back by (each step: the dependency committed last):")
        for steps, cause in _runs(chain):
            first, last = steps[0], steps[-1]
            via = ", ".join(location_text(k) for k in cause[:3])
            if len(steps) == 1:
                lines.append(f"    tx {first.tx} (committed at {first.committed_at * 1000:.2f} ms) via {via}")
            else:
                lines.append(f"    {len(steps)} transactions, tx {first.tx} ({first.committed_at * 1000:.2f} ms) "
                             f"down to tx {last.tx} ({last.committed_at * 1000:.2f} ms), each via {via}")
    for e, reads in zip(ex.of_tx(j), ex.snapshots.get(j, [])):
        if not reads:  # blocked or failed: nothing it read to compare
            continue
        wrong = [r for r in reads if r.differs]
        lines.append(f"  snapshot of the execution on {process_name(e.span.process)} at {_ms(ex, e.span.start)} ms: "
                     f"{len(reads)} reads, {len(wrong)} differ from what it should have seen")
        for r in wrong[:limit]:
            lines.append(f"    {location_text(r.location)}: saw {show(r.seen)}, should be {show(r.expected)} "
                         f"({writer_text(r.writer)})")
    return lines


def _runs(chain) -> list[tuple[list, list]]:
    """The chain's steps after the first, grouped where consecutive steps are
    held by the same locations: [(steps, locations)]."""
    runs: list[tuple[list, list]] = []
    for previous, link in zip(chain, chain[1:]):
        if runs and runs[-1][1] == previous.because:
            runs[-1][0].append(link)
        else:
            runs.append(([link], previous.because))
    return runs


def write_page(run: ExplainedRun, folder: Path) -> Path:
    """Write ``folder/gantt.png`` and ``folder/index.html``; returns the page."""
    folder.mkdir(parents=True, exist_ok=True)
    ex = run.explanation
    draw_gantt(ex, folder / "gantt.png", title(run), run.focus)
    counts = ", ".join(f"{n} {label}" for label, n in ex.counts().items() if n)
    parts = [
        f"<h1>{html.escape(title(run))}</h1>",
        "<p class='how'>One traced run, after an untraced one that started the workers. Times are "
        "from the shared monotonic clock of all processes, from the moment the strategy began on "
        "the block's transactions to the last commit. What each transaction should have seen is "
        "the state serial execution gives it; the run's outcome was checked equal to serial's.</p>",
        "<img src='gantt.png' alt='Gantt chart of the run'>",
        f"<h2>Processes</h2><p>Executions: {html.escape(counts)}.</p>",
        html_table(["process", "executions", "thrown away", "busy ms", "busy share"], process_rows(ex)),
    ]
    thrown = thrown_away_rows(ex)
    if thrown:
        parts += ["<h2>Executions thrown away</h2>",
                  html_table(["tx", "process", "ms", "what", "why"], thrown, (1, 3, 4))]
    if run.focus is not None:
        j = run.focus
        parts += [f"<h2>Transaction {j}</h2>",
                  html_table(["process", "phase", "ms", "what", "why"], execution_rows(run), (0, 1, 3, 4)),
                  "<h3>The chain that held it back</h3><p class='how'>From the transaction, each step "
                  "goes to the dependency that was committed last (a read whose writer came latest).</p>",
                  html_table(["tx", "committed at ms", "which it reads"], chain_rows(run), (2,))]
        for e, reads in zip(ex.of_tx(j), ex.snapshots.get(j, [])):
            parts.append(f"<h3>What it read on {process_name(e.span.process)} at {_ms(ex, e.span.start)} ms "
                         f"({e.label})</h3>")
            if not reads:
                parts.append(f"<p>No reads to show: {html.escape(e.reason())}.</p>")
                continue
            shown = sorted(reads, key=lambda r: not r.differs)[:SNAPSHOT_ROWS]
            parts.append(html_table(["location", "saw", "should have seen", "whose value", ""], read_rows(shown),
                                    (0, 3, 4)))
    page = folder / "index.html"
    page.write_text(html_page(f"parexec explain {run.target}", "".join(parts)))
    return page
