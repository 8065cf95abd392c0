"""``parexec analyze``: one block's dependency graph summed up, as a JSON-ready dict."""

from __future__ import annotations

from parexec.analysis.block_profile import BlockProfile
from parexec.analysis.dependency_graph import DependencyGraph, describe_key


def analyze(profile: BlockProfile, granularity: str = "slot", top: int = 10,
            predict_nonces: bool = False) -> tuple[dict, DependencyGraph]:
    """The summary of ``profile``'s block and its graph.

    ``parallelism_bound`` is the total transaction time over the critical path's
    time: the speedup that unlimited cores with free coordination would reach
    (``parallelism_bound_gas`` is the same by gas). ``list_bound`` is the total
    over the longest single transaction: with an EIP-7928 list carrying every
    post-value no transaction waits for another (strategy ``bal``), so only the
    longest one limits the block."""
    graph = DependencyGraph.of([t.footprint for t in profile.txs], granularity, predict_nonces)
    gas = [t.gas for t in profile.txs]
    seconds = [t.seconds for t in profile.txs]
    path_gas, _ = graph.critical_path(gas)
    path_seconds, path = graph.critical_path(seconds)
    depths = graph.depths()
    summary = {
        "target": profile.target,
        "granularity": granularity,
        "txs": graph.size,
        "gas": sum(gas),
        "tx_seconds": sum(seconds),
        "block_seconds": profile.block_seconds,
        "dependencies": len(graph.edges),
        "independent_share": graph.independent_share(),
        "depth": 1 + max(depths) if depths else 0,
        "critical_path_gas": path_gas,
        "critical_path_seconds": path_seconds,
        "critical_path_txs": path,
        "parallelism_bound": sum(seconds) / path_seconds if path_seconds else 1.0,
        "parallelism_bound_gas": sum(gas) / path_gas if path_gas else 1.0,
        "list_bound": sum(seconds) / max(seconds) if seconds and max(seconds) else 1.0,
        "hotspots": [{**describe_key(key), "dependents": n} for key, n in graph.hotspots(top)],
    }
    return summary, graph
