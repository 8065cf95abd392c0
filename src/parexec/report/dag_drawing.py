"""Drawings of a block's dependency graph: Graphviz DOT text and a PNG.

Both lay transactions out in layers by depth (a transaction sits one layer
right of its deepest dependency), mark the critical path, and colour the edges
caused by the hottest location, so that what serializes a block stands out.
"""

from __future__ import annotations

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


def draw_png(graph: DependencyGraph, summary: dict, path: Path) -> None:
    """The layered graph as a PNG (matplotlib, drawn off-screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depths = graph.depths()
    layers: dict[int, list[int]] = {}
    for tx, depth in enumerate(depths):
        layers.setdefault(depth, []).append(tx)
    position = {tx: (depth, k - (len(txs) - 1) / 2) for depth, txs in layers.items() for k, tx in enumerate(txs)}
    width = len(layers)
    height = max((len(txs) for txs in layers.values()), default=1)
    fig, ax = plt.subplots(figsize=(min(4 + 0.6 * width, 16), min(3 + 0.08 * height, 10)))
    hot, on_path = _hot_edges(graph), _path_edges(summary["critical_path_txs"])
    for i, j in graph.edges:
        (x0, y0), (x1, y1) = position[i], position[j]
        colour = HOT if (i, j) in hot else PATH if (i, j) in on_path else PLAIN
        ax.plot([x0, x1], [y0, y1], color=colour, linewidth=2.0 if (i, j) in on_path else 0.6,
                alpha=0.9 if (i, j) in hot or (i, j) in on_path else 0.4, zorder=1)
    xs, ys = zip(*position.values()) if position else ((), ())
    ax.scatter(xs, ys, s=12, color="#1f77b4", zorder=2)
    if summary["hotspots"]:
        top = summary["hotspots"][0]
        where = top["address"][:10] + "..." + (f" slot {top['slot'][:10]}" if top["slot"] else f" {top['field'] or ''}")
        ax.plot([], [], color=HOT, label=f"hottest: {where} ({top['dependents']} dependents)")
    ax.plot([], [], color=PATH, linewidth=2.0, label="critical path")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("depth (layer of dependencies)")
    ax.set_ylabel("transactions in the layer")
    ax.set_title(
        f"{summary['target']}: {summary['txs']} txs, {summary['independent_share']:.0%} independent, "
        f"bound {summary['parallelism_bound']:.1f}x ({summary['granularity']} granularity)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
