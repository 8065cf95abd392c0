"""Drawings of a block's dependency graph: Graphviz DOT text and a PNG.

Both lay transactions out in layers by depth (a transaction sits one layer
right of its deepest dependency), mark the critical path, and colour the edges
caused by the hottest location, so that what serializes a block stands out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parexec.analysis.dependency_graph import DependencyGraph

HOT = "#d62728"  # edges caused by the hottest location
PATH = "#1f1f1f"  # the critical path
PLAIN = "#9a9a9a"


def _hot_edges(graph: DependencyGraph) -> set[tuple[int, int]]:
    top = graph.hotspots(1)
    return graph.edges_caused_by(top[0][0]) if top else set()


def _path_edges(path: list[int]) -> set[tuple[int, int]]:
    return set(zip(path, path[1:]))


def to_dot(graph: DependencyGraph, summary: dict) -> str:
    """Graphviz text: one node per transaction (label: index and gas), ranked by depth."""
    hot, on_path = _hot_edges(graph), _path_edges(summary["critical_path_txs"])
    lines = [f'digraph "{summary["target"]}" {{', "  rankdir=LR;", "  node [shape=circle, fontsize=9];"]
    layers: dict[int, list[int]] = {}
    for tx, depth in enumerate(graph.depths()):
        layers.setdefault(depth, []).append(tx)
    for depth, txs in sorted(layers.items()):
        lines.append(f"  {{ rank=same; {' '.join(f'tx{t};' for t in txs)} }}")
    path_nodes = set(summary["critical_path_txs"])
    for tx in range(graph.size):
        style = ", style=bold" if tx in path_nodes else ""
        lines.append(f'  tx{tx} [label="{tx}"{style}];')
    for i, j in graph.edges:
        colour = HOT if (i, j) in hot else PATH if (i, j) in on_path else PLAIN
        width = 2.5 if (i, j) in on_path else 1.0
        lines.append(f'  tx{i} -> tx{j} [color="{colour}", penwidth={width}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


LABEL_ALL = 70  # drawn transactions up to which every one is labelled


@dataclass
class Layout:
    position: dict[int, tuple[float, float]]  # tx -> (layer, height): drawn transactions
    labelled: set[int]
    alone: int  # transactions neither waiting nor waited on: counted, not drawn
    layers: int
    tallest: int


def layout(graph: DependencyGraph, summary: dict) -> Layout:
    """Where draw_png puts each transaction (see there)."""
    depths = graph.depths()
    linked = sorted({t for edge in graph.edges for t in edge})
    layers: dict[int, list[int]] = {}
    for tx in linked:
        layers.setdefault(depths[tx], []).append(tx)
    position = {tx: (depth, -(k - (len(txs) - 1) / 2)) for depth, txs in layers.items() for k, tx in enumerate(txs)}
    special = set(summary["critical_path_txs"]) | {t for edge in _hot_edges(graph) for t in edge}
    labelled = set(position) if len(position) <= LABEL_ALL else special & set(position)
    return Layout(position, labelled, graph.size - len(linked), max(layers, default=0) + 1,
                  max((len(txs) for txs in layers.values()), default=1))


def draw_png(graph: DependencyGraph, summary: dict, path: Path) -> None:
    """The layered graph as a PNG (matplotlib, drawn off-screen): transactions
    that depend on nothing and on which nothing depends are counted, not drawn;
    the others sit in their layer in block order (lowest index on top), labelled
    with their index (all of them up to LABEL_ALL, else those on the critical
    path and at the hot location); the critical path and the edges the hottest
    location causes are drawn over the rest, and the caption says what they are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = layout(graph, summary)
    position, width = drawn.position, drawn.layers
    fig, ax = plt.subplots(figsize=(min(5 + 1.1 * width, 16), min(3.5 + 0.22 * drawn.tallest, 11)))
    hot, path_txs = _hot_edges(graph), summary["critical_path_txs"]
    on_path = _path_edges(path_txs)
    for i, j in graph.edges:
        (x0, y0), (x1, y1) = position[i], position[j]
        if (i, j) in on_path:
            style = dict(color=PATH, linewidth=2.2, alpha=0.95, zorder=3)
        elif (i, j) in hot:
            style = dict(color=HOT, linewidth=1.0, alpha=0.8, zorder=2)
        else:
            style = dict(color=PLAIN, linewidth=0.6, alpha=0.45, zorder=1)
        ax.plot([x0, x1], [y0, y1], **style)
    hot_txs = {t for edge in hot for t in edge}
    for tx, (x, y) in position.items():
        ax.scatter([x], [y], s=36 if tx in path_txs else 18, zorder=4,
                   color=PATH if tx in path_txs else HOT if tx in hot_txs else "#1f77b4")
        if tx in drawn.labelled:
            ax.annotate(str(tx), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7, zorder=5)
    if summary["hotspots"]:
        top = summary["hotspots"][0]
        where = top["address"][:12] + "..." + (f" slot {top['slot'][:12]}" if top["slot"] else f" {top['field'] or ''}")
        ax.plot([], [], color=HOT, label=f"{top['dependents']} transactions wait on {where}")
    ax.plot([], [], color=PATH, linewidth=2.2,
            label=f"critical path: {len(path_txs)} transactions, "
                  f"{summary['critical_path_seconds'] * 1000:.1f} of {summary['tx_seconds'] * 1000:.1f} ms")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.set_xticks(range(width), ["0\n(waits on\nnothing)"] + [str(d) for d in range(1, width)])
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_yticks([])
    ax.set_xlabel("layer: how many dependencies deep a transaction waits (labels: transaction index)")
    ax.set_ylabel("transactions of the layer, in block order")
    ax.set_title(
        f"{summary['target']}: {summary['txs']} txs, {summary['independent_share']:.0%} independent, "
        f"bound {summary['parallelism_bound']:.1f}x ({summary['granularity']} granularity)\n"
        f"{drawn.alone} transactions that neither wait nor are waited on are not drawn", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
