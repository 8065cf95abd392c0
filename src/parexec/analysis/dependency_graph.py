"""A block's dependency graph and what it says about parallelism.

Transaction j depends on i < j when j reads a location that i wrote last
before it (access/dependencies.py, rule "reads"): that is the order any
schedule with versioned writes must keep. Balance deltas (fees, value
received) are no dependency among themselves; an exact read of a balance
depends on the deltas before it. From the graph: the share of independent
transactions, the critical path (the heaviest chain, by gas or by time), the
parallelism bound (total work / critical path: no number of cores does better)
and the hotspots (the locations that make the most transactions wait).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from parexec.access.dependencies import dependency_edges
from parexec.access.footprint import Footprint
from parexec.model import STORAGE
from parexec.parallel.schedule import Schedule


@dataclass
class DependencyGraph:
    preds: list[set[int]]  # per transaction, the earlier ones it depends on
    causes: dict[tuple[int, int], set]  # (i, j) -> the keys that make j depend on i

    @classmethod
    def of(cls, footprints: Sequence[Footprint], granularity: str = "slot",
           predict_nonces: bool = False) -> DependencyGraph:
        """``predict_nonces``: a sender's nonce is no dependency (as the strategies
        that predict it see the block)."""
        preds: list[set[int]] = [set() for _ in footprints]
        causes: dict[tuple[int, int], set] = defaultdict(set)
        for i, j, key in dependency_edges(footprints, granularity, "reads", predict_nonces):
            preds[j].add(i)
            causes[(i, j)].add(key)
        return cls(preds, dict(causes))

    @property
    def size(self) -> int:
        return len(self.preds)

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [(i, j) for j, ps in enumerate(self.preds) for i in sorted(ps)]

    def independent_share(self) -> float:
        """The share of transactions that depend on no other (1.0 for an empty block)."""
        if not self.preds:
            return 1.0
        return sum(1 for ps in self.preds if not ps) / len(self.preds)

    def depths(self) -> list[int]:
        """Each transaction's layer: 0 without dependencies, else 1 + its deepest predecessor's."""
        depth: list[int] = []
        for ps in self.preds:
            depth.append(1 + max(depth[i] for i in ps) if ps else 0)
        return depth

    def critical_path(self, weights: Sequence[float]) -> tuple[float, list[int]]:
        """The heaviest chain of dependencies: its weight and its transactions, in order."""
        if not self.preds:
            return 0.0, []
        schedule = Schedule(self.size, self.preds)
        remaining, successors = schedule.critical_path(weights), schedule.successors
        node = max(range(self.size), key=lambda k: (remaining[k], -k))
        path = [node]
        while successors[node]:
            node = max(successors[node], key=lambda k: (remaining[k], -k))
            path.append(node)
        return remaining[path[0]], path

    def dependents(self) -> dict:
        """Per key (location, or account), the transactions it makes wait."""
        found: dict = defaultdict(set)
        for (_i, j), keys in self.causes.items():
            for key in keys:
                found[key].add(j)
        return found

    def hotspots(self, top: int = 10) -> list[tuple[object, int]]:
        """The keys that make the most transactions wait, with how many, most first."""
        ranked = sorted(self.dependents().items(), key=lambda kv: (-len(kv[1]), _sort_key(kv[0])))
        return [(key, len(js)) for key, js in ranked[:top]]

    def edges_caused_by(self, key) -> set[tuple[int, int]]:
        return {edge for edge, keys in self.causes.items() if key in keys}


def describe_key(key) -> dict:
    """A key as JSON: the account, and the slot (storage) or field it names, if any."""
    if isinstance(key, bytes):  # account granularity
        return {"address": "0x" + key.hex(), "slot": None, "field": None}
    kind, address = key[0], key[1]
    if kind == STORAGE:
        return {"address": "0x" + address.hex(), "slot": hex(key[2]), "field": "storage"}
    return {"address": "0x" + address.hex(), "slot": None, "field": kind}


def _sort_key(key):
    return (key,) if isinstance(key, bytes) else (key[1], key[0], key[2] if len(key) > 2 else -1)
