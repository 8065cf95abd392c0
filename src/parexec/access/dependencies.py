"""Dependencies between transactions from their footprints, at a lock granularity.

* ``account``: a lock per account (Solana's Sealevel): any read of an account
  takes its read lock, any write its write lock.
* ``slot``: a lock per location, a storage slot or one account field (object
  level, as Sui and Aptos): two token transfers between different holders no
  longer conflict.

Under both, balance deltas commute (fees to the beneficiary and value received
are no lock, parexec.model), and a balance floor is a read of the balance that
only an exact balance write conflicts with (a floor broken by debits is caught
by the in-order commit).

``locks`` gives Sealevel's rule: j waits for every earlier transaction holding a
conflicting lock (read/write, write/read, write/write). ``data`` gives true
dependencies only (j reads or writes what i writes): with multi-version memory
j never needs to wait for an earlier reader.
"""

from __future__ import annotations

from collections.abc import Sequence

from parexec.access.footprint import Footprint
from parexec.model import BALANCE, BALANCE_DELTA, BALANCE_FLOOR

GRANULARITIES = ("account", "slot")


def lock_keys(footprint: Footprint, granularity: str) -> tuple[set, set]:
    """(read keys, write keys) of a footprint."""
    reads, writes = set(), set()
    for loc in footprint.reads:
        reads.add(_key((BALANCE, loc[1]) if loc[0] == BALANCE_FLOOR else loc, granularity))
    for loc in footprint.writes:
        if loc[0] != BALANCE_DELTA:
            writes.add(_key(loc, granularity))
    return reads - writes, writes


def _key(loc: tuple, granularity: str):
    return loc[1] if granularity == "account" else loc


def dependencies(footprints: Sequence[Footprint], granularity: str, rule: str = "locks") -> list[set[int]]:
    """For each transaction j, the earlier transactions it must wait for."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity {granularity!r}: choose from {GRANULARITIES}")
    if rule not in ("locks", "data"):
        raise ValueError(f"rule {rule!r}: choose locks or data")
    last_writer: dict = {}
    readers_since: dict = {}  # key -> readers after its last writer
    deps: list[set[int]] = []
    for j, footprint in enumerate(footprints):
        reads, writes = lock_keys(footprint, granularity)
        mine: set[int] = set()
        for key in reads | writes:
            writer = last_writer.get(key)
            if writer is not None:
                mine.add(writer)
        if rule == "locks":
            for key in writes:
                mine.update(readers_since.get(key, ()))
        for key in reads:
            readers_since.setdefault(key, []).append(j)
        for key in writes:
            last_writer[key] = j
            readers_since[key] = []
        deps.append(mine)
    return deps


def critical_path(deps: Sequence[set[int]], weights: Sequence[float]) -> list[float]:
    """For each transaction, the heaviest path from it to the end of the graph
    (its own weight included): run the longest first and the block finishes soonest."""
    n = len(deps)
    remaining = list(weights)
    successors: list[list[int]] = [[] for _ in range(n)]
    for j, preds in enumerate(deps):
        for i in preds:
            successors[i].append(j)
    for i in range(n - 1, -1, -1):  # edges go forward, so this is reverse topological
        if successors[i]:
            remaining[i] = weights[i] + max(remaining[j] for j in successors[i])
    return remaining
