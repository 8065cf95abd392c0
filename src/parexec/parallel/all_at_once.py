"""Every transaction of a block once, on one memory, no one waiting for anyone:
how declared-access strategies predict footprints (on the pre-block state) and
how ``bal`` executes (on a block access list's values). Workers take chunks from
the back of the block, the coordinator works from the front, until they meet."""

from __future__ import annotations

import math

from parexec.parallel.protocol import Outcome
from parexec.parallel.worker import run_tasks

CHUNK = 16  # at most: enough to pay for a round trip


def chunk_size(n: int, workers: int) -> int:
    """Transactions per chunk: CHUNK, smaller when a block has too few for every
    worker to get several (so that many workers share a small block)."""
    return max(1, min(CHUNK, math.ceil(n / (4 * workers))))


def execute_all(env, block, pool, mv) -> dict[int, Outcome]:
    """Each transaction's outcome on ``mv`` (``pool``: the workers, holding the
    same memory; None: the coordinator alone), by index."""
    n = len(block.transactions)
    outcomes: dict[int, Outcome] = {}

    def execute_here(tasks):
        outcomes.update((o.tx, o) for o in run_tasks(env, block.transactions, mv, tasks, chain=False))

    def take(collected):
        got, orphaned = collected
        outcomes.update((o.tx, o) for o in got)
        execute_here(orphaned)  # their worker died

    if pool is None:
        execute_here(range(n))
        return outcomes
    front, back = 0, n
    chunk = chunk_size(n, len(pool.workers) + 1)
    while len(outcomes) < n:
        for worker in pool.idle_workers(queue=2):
            if back - front <= 2 * chunk:
                break
            pool.submit(worker, list(range(back - chunk, back)), chain=False)
            back -= chunk
        take(pool.collect(0))
        if front < back:
            execute_here([front])
            front += 1
        elif len(outcomes) < n:
            take(pool.collect(None))
    pool.drain()
    return outcomes
