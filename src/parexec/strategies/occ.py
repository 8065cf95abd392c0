"""Optimistic concurrency after Monad: speculate against committed state, merge in order.

Every transaction runs speculatively on a worker against the committed state the
worker knows (the pre-block state plus the commits it has been sent), not
against other speculative results. The coordinator merges strictly in block
order (parallel.commit): a result whose reads still hold is committed; a stale
one is re-executed at once against the committed state.

Adapted to processes on few cores: the coordinator is also the merge and the
re-executor, and it works from the front of the block while workers take
chunks from the back (guided self-scheduling: chunks shrink as the two ends
meet). The merge therefore never sits idle waiting for a worker to redo a stale
transaction: it redoes it itself, while the workers keep speculating further
back. Each transaction is executed at most twice (speculation, exact redo), so
there is no retry storm; when most speculation fails (a chain of dependent
transactions) workers stop getting chunks and the coordinator finishes alone.
"""

from __future__ import annotations

import math

from parexec.parallel.commit import InOrderCommitter, may_still_hold
from parexec.parallel.worker_pool import get_pool
from parexec.strategies.base import ParallelStrategy

MAX_CHUNK = 64


class OCCStrategy(ParallelStrategy):
    name = "occ"

    def run_parallel(self, env, block, state, workers):
        n = len(block.transactions)
        pool = get_pool(workers - 1)
        pool.start_block(state.base, block, state.diff(), state.new_code())
        committer = InOrderCommitter(env, block, state, pool)
        speculative: dict[int, tuple] = {}
        in_flight: set[int] = set()
        back = n
        gave_up = False
        early = {"arrived": 0, "stale": 0}  # results, and those already stale on arrival
        children = len(pool.workers)
        while not committer.done:
            if not gave_up:
                for worker in pool.idle_workers(queue=2):  # the next chunk waits in line
                    remaining = back - committer.next
                    size = min(MAX_CHUNK, math.ceil(remaining / (2 * (children + 1))))
                    if size <= 0 or remaining - size < size:  # keep a chunk for the coordinator
                        break
                    tasks = list(range(back - size, back))
                    back -= size
                    pool.submit(worker, tasks, chain=False)
                    in_flight.update(tasks)
            self._absorb(pool.collect(0), speculative, in_flight, committer, None if gave_up else early)
            j = committer.next
            if j not in speculative and j in in_flight and not gave_up:
                self._absorb(pool.collect(None), speculative, in_flight, committer, None if gave_up else early)
                continue
            outcome = speculative.pop(j, None)
            result = outcome[2] if outcome is not None and outcome[0] == "done" else None
            committer.offer(result)
            if not gave_up and early["stale"] >= 8 and 2 * early["stale"] > early["arrived"]:
                gave_up = True
        pool.drain()
        stats = {
            "txs": n,
            "mode": "parallel",
            "executions": committer.exact_executions + committer.accepted + committer.rejected,
            "reexecutions": committer.rejected,
            "speculative_accepted": committer.accepted,
            "gave_up": gave_up,
            "workers_replaced": pool.replaced,
        }
        return committer.results, stats

    @staticmethod
    def _absorb(collected, speculative, in_flight, committer, early) -> None:
        """Store arrived outcomes and count those already stale (a read that the
        committed state has since changed): a cheap early sign of a dependency chain."""
        outcomes, orphaned = collected
        for outcome, _worker in outcomes:
            j = outcome[1]
            in_flight.discard(j)
            if j < committer.next:
                continue  # committed meanwhile
            speculative[j] = outcome
            if early is None:
                continue  # already gave up: the check would only repeat the commit's
            early["arrived"] += 1
            if outcome[0] != "done" or not may_still_hold(outcome[2].reads, committer.read):
                early["stale"] += 1
        in_flight.difference_update(orphaned)
