"""The multi-version engine: one block on multi-version memory, worker processes
and an in-order commit. Block-STM runs on it as it is; the declared-access
strategies add what each transaction must wait for.

The coordinator is the parent process. It owns the authoritative multi-version
memory (parallel.mv_memory), the Schedule (parallel.schedule: each
transaction's TxState, its incarnation, who waits for whom) and the committed
state, and it executes transactions too. Each worker holds a replica of the
memory, fed by the same updates in the same order (parallel.protocol), and
executes chunks of ready transactions against it (parallel.chunks decides how
many, and how many a worker holds); within a chunk it records each result
locally, so a chain of dependent transactions resolves in one pass. A read that
meets an ESTIMATE ends that execution and names the writer to wait for.

One loop, in the coordinator:

1. hand chunks of ready transactions to the workers that may take more;
2. take in what came back: a result is recorded in the memory (and published
   to the workers); the finished results above it that read a location it
   changed are re-validated and aborted if a read no longer holds
   (value-based: the EVM is a deterministic function of the values it reads);
3. commit at the front, strictly in block order (parallel.commit): an EXECUTED
   result whose reads still hold is committed as it is; anything else the
   coordinator executes itself, exactly, on the committed state, so the front
   never waits for a worker. After one such execution the loop starts over,
   so that workers are served in between;
4. while a worker holds the front, execute one ready transaction here, or
   wait for the next outcome.

The abort rule (the Schedule's): a transaction is executed speculatively at
most MAX_INCARNATIONS times, then left for the front; when aborts outrun
accepted results (a dependency chain) or exceed the transactions, the workers
are released and the front finishes the block alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from parexec.access.footprint import Footprint
from parexec.model import EXISTS, HAS_STORAGE, STORAGE, STORAGE_RESET, RedoStats, RunStats
from parexec.parallel.chunks import SPECULATIVE_CHUNKS, ChunkPolicy, chunk_size
from parexec.parallel.commit import InOrderCommitter, may_still_hold
from parexec.parallel.mv_memory import ReadEstimate
from parexec.parallel.protocol import BLOCKED, DONE, ESTIMATE, WRITE, Outcome
from parexec.parallel.redo_choice import logged
from parexec.parallel.schedule import EXECUTED, EXECUTING, READY, Schedule
from parexec.parallel.worker import run_tasks
from parexec.parallel.worker_pool import open_block


# executions outside their declared footprints before they may outrun the results
# committed as they were (``_declarations_fail``): a list hiding a chain shows at
# once, an honest list never mispredicts, and pre-execution rarely (at most 26 of
# a mainnet block's transactions, most blocks none); with 16 a hidden chain took
# 1.11-1.15x serial's time, with 8 1.08-1.14x
MISPREDICTIONS_MIN = 8


@dataclass(frozen=True)
class RunPlan:
    """How a strategy runs a block on the multi-version engine. The simulator
    (analysis.simulator) models a strategy from the same plan."""

    deps: list[set[int]] | None = None  # per transaction, the earlier ones it waits for
    priority: list | None = None  # per transaction, smaller runs first (None: block order)
    chunks: ChunkPolicy = SPECULATIVE_CHUNKS


class MVRun:
    """One block on the multi-version engine under ``plan``. A declared-access
    strategy also gives each transaction's declared footprint (``declared``: an
    execution outside it is a misprediction; with ``exact_if_undeclared`` it is
    left for the front to redo exactly, otherwise it stands and re-validation
    repairs what it breaks) and results already computed on the pre-state
    (``initial``)."""

    def __init__(self, env, block, state, workers, plan: RunPlan = RunPlan(), declared=None,
                 exact_if_undeclared=False, initial=None, redo: str = "off"):
        self.env, self.block = env, block
        txs = block.transactions
        self.n = n = len(txs)
        log_ops = logged(block, redo)  # a stale result at the front may then be repaired
        self.pool, self.mv = open_block(block, state, workers, log_ops=log_ops)
        self.committer = InOrderCommitter(env, block, state, pool=None,
                                          redo_stats=None if log_ops is None else RedoStats())
        self.schedule = Schedule(n, plan.deps, plan.priority, [tx.gas for tx in txs])
        self.chunk, self.chunk_policy = chunk_size(n, workers), plan.chunks
        self.declared = declared
        self.exact_if_undeclared = exact_if_undeclared
        self.lock_waits = sum(1 for preds in self.schedule.pending if preds)
        self.mispredictions = 0
        self.executions = 0
        self.executed_here = 0  # speculative executions in the coordinator
        self.results = [None] * n  # the current result of each EXECUTED or COMMITTED transaction
        # the reader index, for re-validation: the locations each EXECUTED result
        # read, and per location (and per address) the EXECUTED results that read it
        self.reads_by_tx: list[tuple] = [() for _ in range(n)]
        self.readers: dict[tuple, set[int]] = {}
        self.address_readers: dict[bytes, set[int]] = {}
        self.in_flight: dict[int, int] = {}  # tx -> the incarnation out on a worker
        schedule = self.schedule
        for j, result in sorted((initial or {}).items()):
            # computed on the pre-state and depending on nothing declared: final
            # unless a misprediction elsewhere breaks it, which the commit catches;
            # only what a declared successor will read goes into MV memory
            if schedule.status[j] != READY:
                continue
            schedule.start(j)
            schedule.finish(j)
            self.results[j] = result
            if schedule.successors[j]:
                self._record(j, result)
            schedule.release(j)

    # ------------------------------------------------------------ main loop
    def execute(self) -> tuple[list, RunStats]:
        committer, pool, schedule = self.committer, self.pool, self.schedule
        while not schedule.done:
            self._dispatch()
            self._handle(pool.collect(0))
            self._commit_front()
            if schedule.done:
                break
            if schedule.status[schedule.front] == EXECUTING:
                # one at a time, so finished workers are served again promptly;
                # none once the front finishes the block alone
                j = schedule.take_one()
                if j is not None:
                    self._execute_here(j)
                else:
                    self._handle(pool.collect(None))
        pool.drain()
        stats = RunStats(
            txs=self.n,
            mode="parallel",
            executions=self.executions + committer.exact_executions,
            coordinator_executions=self.executed_here + committer.exact_executions,
            reexecutions=schedule.aborts + committer.rejected - (committer.redo.repaired if committer.redo else 0),
            blocked=schedule.blocked,
            lock_waits=self.lock_waits,
            mispredictions=self.mispredictions,
            speculative_accepted=committer.accepted,
            gave_up=schedule.gave_up,
            workers_replaced=pool.faults()[0],
            workers_hung=pool.faults()[1],
            redo=committer.redo,
        )
        return committer.results, stats

    # ------------------------------------------------------------ commit
    def _commit_front(self) -> None:
        """Commit finished results in order; execute at most one transaction exactly
        (so that workers get new tasks in between)."""
        committer, schedule = self.committer, self.schedule
        while not schedule.done:
            j = schedule.front
            status = schedule.status[j]
            if status == EXECUTING:
                return
            accepted = committer.offer(self.results[j] if status == EXECUTED else None)
            final = committer.results[-1]
            if not accepted:
                self._record(j, final)
            self.results[j] = final
            schedule.commit(j, accepted)
            self._unindex_reads(j)  # a committed result is never re-validated
            if not accepted:
                return

    # ------------------------------------------------------------ hand-out
    def _dispatch(self) -> None:
        idle = self.pool.idle_workers(queue=self.chunk_policy.queued)
        incarnation = self.schedule.incarnation
        for worker, tasks in self.schedule.hand_out(idle, self.chunk, self.chunk_policy):
            for j in tasks:
                self.in_flight[j] = incarnation[j]
            self.pool.submit(worker, tasks, chain=True)

    def _execute_here(self, j: int) -> None:
        """The coordinator executes speculatively too, on the authoritative memory."""
        self.in_flight[j] = self.schedule.incarnation[j]
        self.executed_here += 1
        self._handle((run_tasks(self.env, self.block.transactions, self.mv, [j], chain=False), []))

    # ------------------------------------------------------------ outcomes
    def _handle(self, collected: tuple[list[Outcome], list[int]]) -> None:
        outcomes, orphaned = collected
        schedule = self.schedule
        for j in orphaned:  # its worker died: hand it out again
            if self.in_flight.pop(j, None) is not None and schedule.status[j] == EXECUTING:
                schedule.lose(j)
        for outcome in outcomes:
            j = outcome.tx
            sent = self.in_flight.pop(j, None)
            if sent is None or sent != schedule.incarnation[j] or schedule.status[j] != EXECUTING:
                continue  # a stale execution (aborted meanwhile, or committed)
            self.executions += 1
            if outcome.kind == DONE:
                self._finish(j, outcome.value, outcome.worker)
            elif outcome.kind == BLOCKED:
                schedule.suspend(j, outcome.value)
            else:  # invalid or error on speculative state: settle it at the front
                schedule.leave_for_front(j)

    def _finish(self, j: int, result, worker=None) -> None:
        # with declarations, only the declared successors read j's writes, unless
        # j left its declaration: the rest need not see them in MV memory (the
        # in-order commit still catches an undeclared read). Entries of an earlier
        # incarnation (ESTIMATE marks included) are always replaced.
        schedule = self.schedule
        publish = self.declared is None or bool(schedule.successors[j]) or j in self.mv.by_tx
        if self.declared is not None and not self.declared[j].covers(Footprint.of_result(result)):
            publish = True
            if self._may_hold(j, result.reads):  # (if stale, it is redone as usual below)
                self.mispredictions += 1
                if self._declarations_fail():
                    schedule.give_up()
                    self.pool.release()
                    self.in_flight.clear()
                if self.exact_if_undeclared or schedule.gave_up:  # its turn will redo it exactly
                    schedule.leave_for_front(j)
                    return
        schedule.finish(j)
        self.results[j] = result
        self._unindex_reads(j)
        self.reads_by_tx[j] = tuple(result.reads)
        # A balance floor (BALANCE_FLOOR) is indexed under its own key, which no
        # write changes: floors are not re-validated eagerly (a hot sender's every
        # payout would re-validate all later ones); the in-order commit checks them.
        for loc in result.reads:
            self.readers.setdefault(loc, set()).add(j)
            self.address_readers.setdefault(loc[1], set()).add(j)
        if publish:
            self._record(j, result, worker)
        if not self._still_valid(j):  # its worker's replica lagged behind
            self._abort(j)
        schedule.release(j)

    def _declarations_fail(self) -> bool:
        """Whether the declared footprints are too wrong to schedule by: executions
        outside them outrun the results committed as they were (a list that hides
        a chain); the front then finishes the block alone, as on a chain of aborts."""
        return (not self.schedule.gave_up and self.mispredictions >= MISPREDICTIONS_MIN
                and self.mispredictions > self.schedule.accepted)

    def _unindex_reads(self, j: int) -> None:
        """j's last result no longer stands to be re-validated: out of the reader
        index, which so holds only results that may still be aborted (a hot
        location's readers would otherwise pile up: every nonce write of a
        sender with hundreds of payouts would look at all of them)."""
        for key in self.reads_by_tx[j]:
            self.readers.get(key, set()).discard(j)
            self.address_readers.get(key[1], set()).discard(j)
        self.reads_by_tx[j] = ()

    def _record(self, j: int, result, worker=None) -> None:
        """Put j's writes in MV memory, tell the workers, re-validate affected readers
        (not once the front finishes the block alone: nothing speculates any more,
        and the in-order commit validates what is left)."""
        if self.schedule.gave_up:
            return
        changed = self.mv.record(j, result.writes, result.new_code)
        self.pool.publish((WRITE, j, result.writes, result.new_code), origin=worker)
        if not changed:
            return
        # a suspect's other reads were checked when they changed: check only the
        # changed ones (all of them where a whole account changed)
        whole: set[int] = set()
        partly: dict[int, list] = {}
        for loc in changed:
            kind = loc[0]
            if kind in (EXISTS, STORAGE_RESET):  # affects every field or slot read
                whole.update(self.address_readers.get(loc[1], ()))
                continue
            for k in self.readers.get(loc, ()):
                partly.setdefault(k, []).append(loc)
            if kind == STORAGE:
                has_storage = (HAS_STORAGE, loc[1])
                for k in self.readers.get(has_storage, ()):
                    partly.setdefault(k, []).append(has_storage)
        status = self.schedule.status
        for k in sorted(whole.union(partly)):
            if k > j and status[k] == EXECUTED and not self._still_valid(k, None if k in whole else partly[k]):
                self._abort(k)

    def _still_valid(self, k: int, locations=None) -> bool:
        """Whether k's reads (only those at ``locations``, if given) may still hold."""
        reads = self.results[k].reads
        if locations is not None:
            reads = {loc: reads[loc] for loc in locations}
        return self._may_hold(k, reads)

    def _may_hold(self, k: int, reads) -> bool:
        mv = self.mv
        try:
            return may_still_hold(reads, lambda loc: mv.value(loc, k))
        except ReadEstimate:  # k read data that is being redone
            return False

    def _abort(self, k: int) -> None:
        self.results[k] = None
        self._unindex_reads(k)
        self.mv.mark_estimate(k)
        self.pool.publish((ESTIMATE, k))
        if self.schedule.abort(k):  # the front finishes the block alone
            self.pool.release()  # released workers skip what they have not begun
            self.in_flight.clear()

