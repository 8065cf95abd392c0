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
front never waits for a worker; with ``redo`` a result found stale there is
repaired by operation-level redo where its log allows (evm.redo), as occ's are. Block-STM declares nothing: every transaction
is ready from the start, and its chunks (SPECULATIVE_CHUNKS: one held per
worker) run ahead of what is final.
"""

from __future__ import annotations

from parexec.parallel.mv_run import MVRun, RunPlan
from parexec.parallel.redo_choice import check_mode
from parexec.strategies.base import MIN_PARALLEL_TXS, ParallelStrategy


class BlockSTMStrategy(ParallelStrategy):
    """Block-STM: speculate on multi-version memory; re-validate, abort and redo on the workers."""

    name = "block-stm"
    engine = "mv-run"

    def __init__(self, min_parallel_txs: int = MIN_PARALLEL_TXS, redo: str = "off"):
        """``redo``: repair a result found stale at the front by operation-level redo
        (parallel.redo_choice: "auto", "on", "off") instead of executing it again.
        Off unless asked: Block-STM aborts a result as soon as a read it made
        changes and executes it again on a worker, so at the front few are stale
        (none on 4370000, 6196166 and 8889776) and logging would only cost."""
        super().__init__(min_parallel_txs)
        self.redo = check_mode(redo)

    @classmethod
    def plan(cls, footprints=None, weights=None) -> RunPlan:
        """Nothing declared, block order, speculative chunks (the footprints and
        weights a declared-access strategy plans with are not used)."""
        return RunPlan()

    def run_parallel(self, env, block, state, workers):
        return MVRun(env, block, state, workers, self.plan(), redo=self.redo).execute()
