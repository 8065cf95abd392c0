"""Block-STM (Gelashvili et al., PPoPP'23), adapted to worker processes.

The paper's design: transactions execute optimistically in parallel on a
multi-version memory keyed by state location, each write tagged with its
version (transaction index, incarnation). A transaction reads, for each
location, the value written by the highest transaction below it. Each executed
transaction's read set is validated; when validation fails the transaction is
aborted, its writes become ESTIMATE markers, so a later reader waits for it
instead of computing on data that is about to change, and it is re-executed
with the next incarnation. Tasks are taken lowest index first, and the block
commits in order.

The adaptation to processes (CPython threads cannot run py-evm in parallel) is
the multi-version engine, parallel.mv_run: the coordinator owns the memory,
the schedule and the commit, and executes too; workers execute chunks of the
lowest ready transactions on replicas of the memory; validation is value-based
and eager (a result that changes a location re-validates its readers); the
lowest unfinished transaction is executed exactly by the coordinator, so the
front never waits for a worker. Block-STM declares nothing: every transaction
is ready from the start, and its chunks (SPECULATIVE_CHUNKS: one held per
worker) run ahead of what is final.
"""

from __future__ import annotations

from parexec.parallel.mv_run import MVRun, RunPlan
from parexec.strategies.base import ParallelStrategy


class BlockSTMStrategy(ParallelStrategy):
    """Block-STM: speculate on multi-version memory; re-validate, abort and redo on the workers."""

    name = "block-stm"
    engine = "mv-run"

    @classmethod
    def plan(cls, footprints=None, weights=None) -> RunPlan:
        """Nothing declared, block order, speculative chunks (the footprints and
        weights a declared-access strategy plans with are not used)."""
        return RunPlan()

    def run_parallel(self, env, block, state, workers):
        return MVRun(env, block, state, workers, self.plan()).execute()
