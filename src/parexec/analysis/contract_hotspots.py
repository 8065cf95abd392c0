"""``analyze --contract``: over many blocks, which of one contract's slots (and
account fields) make its callers wait, so its author knows what to shard."""

from __future__ import annotations

from parexec.analysis.dependency_graph import DependencyGraph, describe_key


def contract_hotspots(graphs: list[tuple[str, DependencyGraph]], address: bytes) -> list[dict]:
    """Per location of ``address``: in how many blocks it made transactions wait,
    how many waited in all, and the share of those blocks' waiting transactions
    it accounts for; most waiting first."""
    found: dict = {}
    for name, graph in graphs:
        dependents = graph.dependents()
        waiting = {j for js in dependents.values() for j in js}
        for key, js in dependents.items():
            if (key if isinstance(key, bytes) else key[1]) != address:
                continue
            entry = found.setdefault(key, {"blocks": [], "waiting": 0, "block_waiting": 0})
            entry["blocks"].append(name)
            entry["waiting"] += len(js)
            entry["block_waiting"] += len(waiting)
    rows = [{**describe_key(key), "blocks": len(e["blocks"]), "waiting": e["waiting"],
             "share": e["waiting"] / e["block_waiting"] if e["block_waiting"] else 0.0, "in": e["blocks"]}
            for key, e in found.items()]
    return sorted(rows, key=lambda r: (-r["waiting"], r["slot"] or "", r["field"] or ""))
