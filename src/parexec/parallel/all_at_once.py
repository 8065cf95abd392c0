"""Every transaction of a block once, on one memory, no one waiting for anyone:
how declared-access strategies predict footprints (on the pre-block state) and
how ``bal`` executes (on a block access list's values). Workers take chunks from
the back of the block (smaller as the middle shrinks), the coordinator works
from the front; where they meet, the coordinator claims what the workers have
not started."""

from __future__ import annotations

import math

from parexec.parallel.protocol import DONE, Outcome
from parexec.parallel.worker import run_tasks

CHUNK = 16  # at most: enough to pay for a round trip
# chunks a worker holds (topped up between the coordinator's own transactions,
# one of which can take 30 ms on mainnet: 15274915); what a worker holds but has
# not started, the coordinator claims at the end
QUEUE = 8


def chunk_size(n: int, workers: int) -> int:
    """Transactions per chunk: CHUNK, smaller when a block has too few for every
    worker to get several (so that many workers share a small block)."""
    return max(1, min(CHUNK, math.ceil(n / (4 * workers))))


def execute_all(env, block, pool, mv, check=None) -> dict[int, Outcome]:
    """Each transaction's outcome on ``mv`` (``pool``: the workers, holding the
    same memory; None: the coordinator alone), by index. Every execution of a
    transaction sees the same view, so one done twice (a claim that reached a
    worker late) only costs time. ``check(j, result)``: called on each result
    the coordinator computes, as it computes it (workers check their own)."""
    n = len(block.transactions)
    outcomes: dict[int, Outcome] = {}

    def execute_here(tasks):
        for o in run_tasks(env, block.transactions, mv, tasks, chain=False):
            if check is not None and o.kind == DONE:
                check(o.tx, o.value)
            outcomes[o.tx] = o

    def take(collected):
        got, orphaned = collected
        outcomes.update((o.tx, o) for o in got)
        execute_here(orphaned)  # their worker died

    if pool is None:
        execute_here(range(n))
        return outcomes
    front, back = 0, n
    chunk = chunk_size(n, len(pool.workers) + 1)
    while front < n:
        for _ in range(QUEUE):  # top every worker up, a chunk each per round
            hungry = pool.idle_workers(queue=QUEUE)
            for worker in hungry:
                size = min(chunk, (back - front) // 2)  # smaller towards the end: none idles
                if size < 1:
                    break
                pool.submit(worker, list(range(back - size, back)), chain=False)
                back -= size
            if not hungry or back - front < 2:
                break
        take(pool.collect(0))
        if front >= back:  # in the workers' part: take what they have not started
            running = {pool.running(w) for w in pool.workers if not w.idle}
            while front < n and (front in outcomes or front in running):
                front += 1
            if front == n:
                break
            for worker in pool.workers:
                pool.claim(worker, front)
        execute_here([front])
        front += 1
    while len(outcomes) < n:
        take(pool.collect(None))
    pool.drain()
    return outcomes
