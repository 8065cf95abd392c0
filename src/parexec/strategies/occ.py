"""Optimistic concurrency after Monad: speculate against committed state, merge in order.

Every transaction runs speculatively on a worker against the committed state the
worker knows (the pre-block state plus the commits it has been sent), not
against other speculative results. The coordinator merges strictly in block
order (parallel.commit): a result whose reads still hold is committed; a stale
one is re-executed at once against the committed state.

Adapted to processes on few cores: the coordinator is also the merge and the
re-executor, and it works from the front of the block while workers take
chunks from the back (guided self-scheduling: chunks shrink as the two ends
meet). A worker runs its chunk from the top down and holds the next chunk in
its pipe, so it never waits for work. When the front reaches a transaction
that is handed out but not back, the coordinator claims it and executes it
itself; the worker skips claimed transactions and, once claims reach its run,
sends every result as soon as it has it; a transaction the worker has already
begun (shared memory shows which) is waited for instead. So the two ends meet
inside a chunk and neither waits long for the other, however uneven the
transactions' costs. The merge likewise never waits for a worker to redo a
stale transaction: it redoes it itself. Each transaction is executed at most
twice (speculation, exact redo), so there is no retry storm; when most
speculation fails (a chain of dependent transactions) workers stop getting
chunks and the coordinator finishes alone.

Operation-level redo (``redo``, after ParallelEVM): workers log what their
executions compute from storage (evm.op_log), and the merge repairs a stale
result by recomputing only the operations that depend on what changed
(evm.redo), executing it again only where the log cannot prove the path
unchanged; which executions log, parallel.redo_choice says.
"""

from __future__ import annotations

from parexec.model import RedoStats, RunStats
from parexec.parallel.chunks import back_chunk
from parexec.parallel.commit import InOrderCommitter, may_still_hold
from parexec.parallel.protocol import DONE
from parexec.parallel.redo_choice import RedoMemory, check_mode, logged
from parexec.parallel.worker_pool import open_block
from parexec.strategies.base import MIN_PARALLEL_TXS, ParallelStrategy


class OCCStrategy(ParallelStrategy):
    """Optimistic, after Monad: speculate on committed state, merge in order, redo what went stale."""

    name = "occ"
    engine = "occ"

    def __init__(self, min_parallel_txs: int = MIN_PARALLEL_TXS, redo: str = "auto"):
        """``redo``: "on" (every speculative execution logs), "auto" (those of
        transactions that call a contract an earlier one of the block calls) or
        "off"."""
        super().__init__(min_parallel_txs)
        self.redo = check_mode(redo)
        self.memory = RedoMemory()  # which contracts' transactions are worth logging, block after block

    def run_parallel(self, env, block, state, workers):
        run = _Run(env, block, state, workers, logged(block, self.redo, self.memory))
        results, stats = run.execute()
        self.memory.learn(block, run.committer.log_outcomes)
        return results, stats


class _Run:
    def __init__(self, env, block, state, workers, log_ops):
        self.n = len(block.transactions)
        self.workers = workers
        self.pool, _ = open_block(block, state, workers, log_ops=log_ops)
        # A commit matters to a worker only if a later chunk can read it: chunks go
        # ever lower, so only commits below the chunks handed out so far do.
        self.committer = InOrderCommitter(
            env, block, state, self.pool, publish_if=lambda j: not self.gave_up and j < self.back,
            redo_stats=None if log_ops is None else RedoStats(),
        )
        self.speculative: dict = {}  # arrived outcomes (parallel.protocol.Outcome), by tx
        self.owner: dict = {}  # tx handed to a worker and not back -> the worker
        self.back = self.n  # txs from here on were handed to workers
        self.gave_up = False
        self.arrived = 0  # speculative results, and those already stale on arrival
        self.stale = 0

    def execute(self):
        committer, pool = self.committer, self.pool
        while not committer.done:
            if not self.gave_up:
                self._dispatch()
            self._absorb(pool.collect(0))
            j = committer.next
            if j not in self.speculative and j in self.owner:
                self._claim(j)
            outcome = self.speculative.pop(j, None)
            result = outcome.value if outcome is not None and outcome.kind == DONE else None
            committer.offer(result)
            self.owner.pop(j, None)
            if not self.gave_up and self.stale >= 8 and 2 * self.stale > self.arrived:
                self.gave_up = True
                pool.release()
        pool.drain()
        stats = RunStats(
            txs=self.n,
            mode="parallel",
            executions=committer.exact_executions + committer.accepted + committer.rejected,
            coordinator_executions=committer.exact_executions,
            reexecutions=committer.rejected - (committer.redo.repaired if committer.redo else 0),
            speculative_accepted=committer.accepted,
            gave_up=self.gave_up,
            workers_replaced=pool.faults()[0],
            workers_hung=pool.faults()[1],
            redo=committer.redo,
        )
        return committer.results, stats

    def _dispatch(self) -> None:
        for worker in self.pool.idle_workers(queue=2):  # the next chunk waits in line
            tasks = back_chunk(self.committer.next, self.back, self.workers)
            if not tasks:  # what is left is the coordinator's
                return
            self.back -= len(tasks)
            self.pool.submit(worker, list(tasks), chain=False)
            for j in tasks:
                self.owner[j] = worker

    def _claim(self, j: int) -> None:
        """The front reached tx ``j``, handed to a worker and not back. If the worker
        is executing it, wait for that (it started first); otherwise claim it and
        let the coordinator execute it."""
        worker = self.owner[j]
        if self.pool.running(worker) != j:
            self.pool.claim(worker, j)
            return
        self.pool.claim(worker, j - 1)  # the rest of its run is committed already
        while j not in self.speculative and j in self.owner:
            self._absorb(self.pool.collect(None))

    def _absorb(self, collected) -> None:
        """Store arrived outcomes and count those already stale (a read that the
        committed state has since changed): a cheap early sign of a dependency chain."""
        outcomes, orphaned = collected
        committer = self.committer
        for outcome in outcomes:
            j = outcome.tx
            if j < committer.next:
                continue  # committed meanwhile
            self.speculative[j] = outcome
            self.owner.pop(j, None)
            if self.gave_up:
                continue  # the check would only repeat the commit's
            self.arrived += 1
            if outcome.kind != DONE or not may_still_hold(outcome.value.reads, committer.read):
                self.stale += 1
        for j in orphaned:  # its worker died: the front executes it
            self.owner.pop(j, None)
