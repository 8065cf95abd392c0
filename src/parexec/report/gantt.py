"""The Gantt chart of a traced run (analysis.schedule_explain): one row per
process, one bar per execution, coloured by what became of it. A thrown-away
execution is labelled with the location it read wrongly and the transaction
that wrote the right value (as many as fit; `explain`'s table lists all). The
chosen transaction's executions and the chain that held it back are outlined,
and a line shows how far the in-order commit had come.
"""

from __future__ import annotations

from pathlib import Path

from parexec.analysis.schedule_explain import (
    BLOCKED_LABEL,
    COMMITTED,
    FAILED,
    REDO,
    REPAIRED_LABEL,
    STALE,
    UNUSED,
    Explanation,
    location_text,
)
from parexec.parallel.run_trace import COORDINATOR, PRE_EXECUTION

COLOURS = {
    COMMITTED: "#2ca02c",
    REDO: "#ff7f0e",
    REPAIRED_LABEL: "#17becf",
    STALE: "#d62728",
    BLOCKED_LABEL: "#7f7f7f",
    UNUSED: "#c7c7c7",
    FAILED: "#9467bd",
}
MEANING = {
    COMMITTED: "committed",
    REDO: "redone, committed",
    REPAIRED_LABEL: "repaired (operation-level redo), committed",
    STALE: "stale (read a value that changed)",
    BLOCKED_LABEL: "blocked (waits for a writer)",
    UNUSED: "thrown away, reads held",
    FAILED: "failed on speculative state",
}
MAX_LABELS = 14  # thrown-away executions labelled on the chart


def process_name(process: int) -> str:
    return "coordinator" if process == COORDINATOR else f"worker {process}"


def draw_gantt(explanation: Explanation, path: Path, title: str, focus: int | None = None) -> None:
    """Write the chart as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ex = explanation
    processes = ex.processes()
    row = {p: i for i, p in enumerate(processes)}
    chain = {link.tx for link in ex.held_back_by(focus)} if focus is not None else set()
    height = 2.2 + 0.9 * len(processes)
    fig, ax = plt.subplots(figsize=(13, height))
    for e in ex.executions:
        start, end = (e.span.start - ex.origin) * 1000, (e.span.end - ex.origin) * 1000
        outlined = e.tx == focus or e.tx in chain
        ax.barh(row[e.span.process], max(end - start, 0.02), left=start, height=0.62,
                color=COLOURS[e.label], alpha=0.55 if e.span.phase == PRE_EXECUTION else 0.95,
                hatch="//" if e.span.phase == PRE_EXECUTION else None,
                edgecolor="black" if outlined else "white", linewidth=1.6 if outlined else 0.3,
                zorder=3 if outlined else 2)
        if e.tx == focus:
            ax.text((start + end) / 2, row[e.span.process] - 0.42, f"tx {e.tx}", ha="center",
                    va="bottom", fontsize=8, fontweight="bold", zorder=5)
    _label_thrown_away(ax, ex, row, focus)
    _commit_front(ax, ex)
    ax.set_yticks(range(len(processes)), [process_name(p) for p in processes])
    ax.set_ylim(len(processes) - 0.2, -0.9)
    ax.set_xlim(0, ex.duration * 1000 * 1.01)
    ax.set_xlabel("ms since the transactions started")
    ax.set_title(title, fontsize=10)
    used = [label for label in COLOURS if any(e.label == label for e in ex.executions)]
    handles = [Patch(color=COLOURS[label], label=MEANING[label]) for label in used]
    if any(e.span.phase == PRE_EXECUTION for e in ex.executions):
        handles.append(Patch(facecolor="white", edgecolor="#555", hatch="//", label="pre-execution"))
    if focus is not None:
        handles.append(Patch(facecolor="white", edgecolor="black", linewidth=1.6,
                             label=f"tx {focus} and the chain that held it back"))
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    rows_of_legend = -(-len(handles) // 4)
    fig.tight_layout(rect=(0, (0.12 + 0.2 * rows_of_legend) / height, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _label_thrown_away(ax, ex: Explanation, row: dict, focus: int | None) -> None:
    """Label stale and blocked executions (the chosen transaction's first), as
    many as MAX_LABELS, skipping one that would overlap the last label of its row."""
    candidates = [e for e in ex.thrown_away() if e.label in (STALE, BLOCKED_LABEL)]
    candidates.sort(key=lambda e: (e.tx != focus, e.span.start))
    last_end: dict = {}
    span_ms = ex.duration * 1000 or 1.0
    placed = 0
    for e in sorted(candidates[:MAX_LABELS * 3], key=lambda e: e.span.start):
        if placed >= MAX_LABELS:
            break
        x = (e.span.start - ex.origin) * 1000
        r = row[e.span.process]
        if x < last_end.get(r, -1e9) and e.tx != focus:
            continue
        if e.label == STALE:
            wrong = e.wrong[0]
            source = "start" if wrong.writer is None else f"tx {wrong.writer}"
            text = f"tx {e.tx}: {location_text(wrong.location)} ← {source}"
        else:
            text = f"tx {e.tx} waits for tx {e.span.value}"
        if e.tx == focus:  # below the bar, clear of the others' labels and its name above
            ax.annotate(text, (x, r + 0.31), xytext=(x, r + 0.5), fontsize=6.5, color="#000",
                        ha="left", va="top", zorder=6, arrowprops=dict(arrowstyle="-", linewidth=0.5))
        else:
            ax.annotate(text, (x, r - 0.31), xytext=(x, r - 0.55), fontsize=6.5, color="#600",
                        ha="left", va="bottom", zorder=6,
                        arrowprops=dict(arrowstyle="-", color="#600", linewidth=0.5))
            last_end[r] = x + span_ms * len(text) * 0.0062
        placed += 1


def _commit_front(ax, ex: Explanation) -> None:
    """How many transactions are committed over time, on a second axis."""
    times = sorted(ex.committed_at)
    other = ax.twinx()
    other.step([0] + [t * 1000 for t in times], range(len(times) + 1), where="post",
               color="#1f1f1f", linewidth=1.0, alpha=0.6)
    other.set_ylim(0, max(len(times), 1) * 1.05)
    other.set_ylabel("committed (line)", fontsize=8)
