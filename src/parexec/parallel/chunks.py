"""How work is handed to workers, in chunks: ready transactions in a
multi-version run (parallel.mv_run), the back of the block in occ. A chunk is
not preempted, and the coordinator takes results in only between its own
executions, so how big chunks are and how many a worker holds decide how long
workers and coordinator wait for each other. The simulator
(analysis.simulator) hands out chunks with the same functions.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

MAX_CHUNK = 16  # a multi-version run's chunks
OCC_MAX_CHUNK = 64  # occ's chunks (they cannot block: each runs on committed state)


@dataclass(frozen=True)
class ChunkPolicy:
    """How ready transactions are handed to workers."""

    queued: int  # chunks a worker may hold: more keeps it busy while the coordinator executes
    gas: float  # a chunk's gas limits at most (at least one transaction): heavy ones go alone
    share_last: bool  # a chunk that would take all that is ready is shared out instead


# Block-STM's chunks run ahead of what is final: a second held chunk, or smaller
# chunks with more round trips, mostly turn into stale work (A/B on the mainnet
# blocks). A declared-access strategy hands out only what its declared
# predecessors allow, so nothing a worker holds goes stale: keep workers busy,
# and never queue several heavy transactions on one (py-evm runs about 30M
# gas/s; a round trip costs about 0.1-0.3 ms).
SPECULATIVE_CHUNKS = ChunkPolicy(queued=1, gas=math.inf, share_last=False)
DECLARED_CHUNKS = ChunkPolicy(queued=2, gas=300_000, share_last=True)


def chunk_size(n: int, workers: int) -> int:
    """How many ready transactions a worker gets at a time: enough to pay for the
    round trip, few enough that all workers get some."""
    return max(2, min(MAX_CHUNK, math.ceil(n / (8 * workers))))


def take_ready(ready: list, is_ready, gas_of, limit: int, gas_budget: float = math.inf) -> list[tuple]:
    """Pop up to ``limit`` entries (priority, j) off the heap ``ready``, best first,
    within ``gas_budget`` by ``gas_of`` (at least one); drops entries no longer ready."""
    entries, gas = [], 0
    while len(entries) < limit:
        _drop_stale(ready, is_ready)
        if not ready:
            break
        gas += gas_of(ready[0][1])
        if entries and gas > gas_budget:
            break
        entries.append(heapq.heappop(ready))
    return entries


def next_chunk(ready: list, is_ready, gas_of, size: int, policy: ChunkPolicy, sharers: int) -> list[int]:
    """A worker's next chunk under ``policy``; ``sharers``: the processes that could
    take a share of the last ready transactions (idle workers not yet served, and
    the coordinator)."""
    entries = take_ready(ready, is_ready, gas_of, size, policy.gas)
    _drop_stale(ready, is_ready)
    if policy.share_last and len(entries) > 1 and not ready:
        # that was all there is to do: share it out instead of queueing it on one
        keep = math.ceil(len(entries) / sharers)
        for entry in entries[keep:]:
            heapq.heappush(ready, entry)
        entries = entries[:keep]
    return [j for _, j in entries]


def back_chunk(front: int, back: int, workers: int) -> range:
    """occ's next chunk for a worker: the transactions just below ``back`` (the
    lowest one handed out so far), top down, so that worker and coordinator
    meet inside it. Chunks shrink as the front (the next to commit) comes
    closer (guided self-scheduling); none when at most two chunks' worth is
    left: that much the coordinator keeps for itself."""
    remaining = back - front
    size = min(OCC_MAX_CHUNK, math.ceil(remaining / (2 * workers)))
    if size <= 0 or remaining - size < size:
        return range(0)
    return range(back - 1, back - size - 1, -1)


def _drop_stale(ready: list, is_ready) -> None:
    while ready and not is_ready(ready[0][1]):
        heapq.heappop(ready)
