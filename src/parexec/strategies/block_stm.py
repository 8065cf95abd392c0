"""Block-STM (Gelashvili et al., PPoPP'23), adapted to worker processes.

The paper's design: transactions execute optimistically in parallel on a
multi-version memory (MV memory) keyed by state location, each write tagged with
its version (transaction index, incarnation). A transaction reads, for each
location, the value written by the highest transaction below it. Each executed
transaction's read set is validated; when validation fails the transaction is
aborted, its writes become ESTIMATE markers, so a later reader waits for it
instead of computing on data that is about to change, and it is re-executed
with the next incarnation. Tasks are taken lowest index first, and the block
commits in order.

The adaptation to processes (CPython threads cannot run py-evm in parallel):

* The coordinator is the parent process. It owns the authoritative MV memory,
  the scheduler (per-transaction status, incarnation, dependencies) and the
  committed state, and it executes transactions too.
* Each worker process holds a replica of the MV memory, fed by the same update
  messages (write sets, ESTIMATE marks) in the same order, and executes chunks
  of the lowest ready transactions against it; within a chunk it records each
  result locally so a chain of dependent transactions resolves in one pass.
  A read that hits an ESTIMATE aborts that execution and reports the
  dependency; the transaction becomes ready again when the writer finishes.
* Validation runs in the coordinator (it holds the truth about versions): when
  a result changes some locations, exactly the finished transactions above it
  that read those accounts are re-validated, and aborted if a read no longer
  holds (value-based validation: the EVM is a deterministic function of the
  values it reads, so equal values mean an equal execution).
* Commit is strictly in order (parallel.commit): the lowest unfinished
  transaction is executed by the coordinator itself, exactly, because nothing
  below it can change any more: the front never waits for a worker.

Safety: a transaction is speculatively re-executed at most MAX_INCARNATIONS
times, after which it waits for the front; if aborts exceed the number of
transactions, or outrun accepted results two to one (a dependency chain), the
workers get no more tasks and the coordinator finishes the block serially.
Small blocks run serially.
"""

from __future__ import annotations

import heapq

from parexec.access.footprint import Footprint
from parexec.model import EXISTS, HAS_STORAGE, STORAGE, STORAGE_RESET
from parexec.parallel.chunks import SPECULATIVE_CHUNKS, chunk_size, next_chunk, take_ready
from parexec.parallel.commit import InOrderCommitter, may_still_hold
from parexec.parallel.mv_memory import MVMemory, ReadEstimate
from parexec.parallel.worker import run_tasks
from parexec.parallel.worker_pool import get_pool
from parexec.state.overlay import OverlayState
from parexec.strategies.base import ParallelStrategy

MAX_INCARNATIONS = 3
CHAIN_MIN_ABORTS = 16  # aborts before the chain rule may hand the block to the front



def gives_up(aborts: int, accepted: int, n: int) -> bool:
    """Whether speculation stops and the front finishes the block alone: a retry
    storm, or a dependency chain (aborts outrun accepted results)."""
    return aborts > n or (aborts >= CHAIN_MIN_ABORTS and aborts > 2 * accepted)


# EXACT: left for the front; WAITING: declared predecessors unfinished (see MVRun)
READY, RUNNING, DONE, BLOCKED, EXACT, WAITING = range(6)


class BlockSTMStrategy(ParallelStrategy):
    name = "block-stm"

    def run_parallel(self, env, block, state, workers):
        return MVRun(env, block, state, workers).execute()


class MVRun:
    """One block on multi-version memory. Block-STM uses it as it is; the
    declared-access strategies (strategies/declared.py) add, per transaction,
    the earlier ones it must wait for (``deps``), a scheduling order
    (``priority``, smaller first), the declared footprints to check executions
    against (``declared``: an execution outside its declaration is a
    misprediction; with ``exact_if_undeclared`` it is left for the front to
    redo exactly, otherwise it stands and re-validation repairs what it breaks),
    results already computed on the pre-state (``initial``), and how to hand
    out chunks (``chunk_policy``)."""

    def __init__(self, env, block, state, workers, deps=None, priority=None, declared=None,
                 exact_if_undeclared=False, initial=None, chunk_policy=SPECULATIVE_CHUNKS):
        self.env, self.block = env, block
        self.n = n = len(block.transactions)
        pre_writes, pre_code = state.diff(), state.new_code()
        base = OverlayState(state.base)
        base.apply(pre_writes, pre_code)
        self.mv = MVMemory(base)
        self.pool = get_pool(workers - 1)
        self.pool.start_block(state.base, block, pre_writes, pre_code)
        self.committer = InOrderCommitter(env, block, state, pool=None)
        self.pending = [set(d) for d in deps] if deps is not None else [set() for _ in range(n)]
        self.successors: list[list[int]] = [[] for _ in range(n)]
        for j, preds in enumerate(self.pending):
            for i in preds:
                self.successors[i].append(j)
        self.priority = priority if priority is not None else range(n)
        self.declared = declared
        self.exact_if_undeclared = exact_if_undeclared
        self.lock_waits = sum(1 for preds in self.pending if preds)
        self.mispredictions = 0
        self.status = [WAITING if self.pending[j] else READY for j in range(n)]
        self.incarnation = [0] * n
        self.results = [None] * n
        self.reads_by_tx: list[tuple] = [() for _ in range(n)]
        self.readers: dict[tuple, set[int]] = {}  # location -> txs whose result read it
        self.address_readers: dict[bytes, set[int]] = {}  # address -> txs that read any of it
        self.waiting: dict[int, list[int]] = {}  # writer -> txs blocked on it
        # a heap of (priority, index); stale entries are skipped
        self.ready = [(self.priority[j], j) for j in range(n) if self.status[j] == READY]
        heapq.heapify(self.ready)
        self.chunk = chunk_size(n, workers)
        self.chunk_policy = chunk_policy
        self.executions = 0
        self.aborts = 0
        self.blocked = 0
        self.storm = False
        self.in_flight: dict[int, int] = {}  # tx -> incarnation sent to a worker
        for j, result in sorted((initial or {}).items()):
            # computed on the pre-state and depending on nothing declared: final
            # unless a misprediction elsewhere breaks it, which the commit catches;
            # only what a declared successor will read goes into MV memory
            if self.status[j] == READY:
                self.results[j] = result
                self.status[j] = DONE
                if self.successors[j]:
                    self._record(j, result)
                self._release(j)

    # ------------------------------------------------------------ main loop
    def execute(self):
        committer, pool = self.committer, self.pool
        while not committer.done:
            self._dispatch()
            self._handle(pool.collect(0))
            self._commit_front()
            if committer.done:
                break
            if self.status[committer.next] == RUNNING:
                # one at a time, so finished workers are served again promptly;
                # none once the front finishes the block alone
                tasks = [] if self.storm else self._take_ready(1)
                if tasks:
                    self._execute_here(tasks)
                else:
                    self._handle(pool.collect(None))
        pool.drain()
        stats = {
            "txs": self.n,
            "mode": "parallel",
            "executions": self.executions + committer.exact_executions,
            "reexecutions": self.aborts + committer.rejected,
            "blocked": self.blocked,
            "lock_waits": self.lock_waits,
            "mispredictions": self.mispredictions,
            "speculative_accepted": committer.accepted,
            "gave_up": self.storm,
            "workers_replaced": pool.replaced,
        }
        return committer.results, stats

    # ------------------------------------------------------------ commit
    def _commit_front(self) -> None:
        """Commit finished results in order; execute at most one transaction exactly
        (so that workers get new tasks in between)."""
        committer = self.committer
        while not committer.done:
            j = committer.next
            status = self.status[j]
            if status == RUNNING:
                return
            speculative = self.results[j] if status == DONE else None
            accepted = committer.offer(speculative)
            final = committer.results[-1]
            if not accepted:
                self._record(j, final)
            self.status[j] = EXACT  # committed; never scheduled again
            self.results[j] = final
            self._wake(j)
            self._release(j)
            if not accepted:
                return

    # ------------------------------------------------------------ scheduling
    def _is_ready(self, j: int) -> bool:
        return j > self.committer.next and self.status[j] == READY

    def _take_ready(self, limit: int) -> list[int]:
        return [j for _, j in take_ready(self.ready, self._is_ready, self._gas_limit, limit)]

    def _gas_limit(self, j: int) -> int:
        return self.block.transactions[j].gas

    def _dispatch(self) -> None:
        if self.storm:
            return
        idle = self.pool.idle_workers(queue=self.chunk_policy.queued)
        for k, worker in enumerate(idle):
            tasks = next_chunk(self.ready, self._is_ready, self._gas_limit, self.chunk, self.chunk_policy,
                               sharers=len(idle) - k + 1)
            if not tasks:
                return
            for j in tasks:
                self.status[j] = RUNNING
                self.in_flight[j] = self.incarnation[j]
            self.pool.submit(worker, tasks, chain=True)

    def _execute_here(self, tasks: list[int]) -> None:
        """The coordinator executes speculatively too, on the authoritative MV memory."""
        for j in tasks:
            self.status[j] = RUNNING
            self.in_flight[j] = self.incarnation[j]
            outcomes = run_tasks(self.env, self.block.transactions, self.mv, [j], chain=False)
            self._handle(([(o, None) for o in outcomes], []))

    # ------------------------------------------------------------ results
    def _handle(self, collected) -> None:
        outcomes, orphaned = collected
        for j in orphaned:  # its worker died: schedule again
            if self.in_flight.pop(j, None) is not None and self.status[j] == RUNNING:
                self._make_ready(j)
        for outcome, worker in outcomes:
            kind, j = outcome[0], outcome[1]
            sent = self.in_flight.pop(j, None)
            if sent is None or sent != self.incarnation[j] or self.status[j] != RUNNING:
                continue  # a stale execution (aborted meanwhile, or committed)
            self.executions += 1
            if kind == "done":
                self._finish(j, outcome[2], worker)
            elif kind == "blocked":
                self._block(j, outcome[2])
            else:  # invalid or error on speculative state: settle it at the front
                self.status[j] = EXACT

    def _finish(self, j: int, result, worker=None) -> None:
        # with declarations, only the declared successors read j's writes, unless
        # j left its declaration: the rest need not see them in MV memory (the
        # in-order commit still catches an undeclared read). Entries of an earlier
        # incarnation (ESTIMATE marks included) are always replaced.
        publish = self.declared is None or bool(self.successors[j]) or j in self.mv.by_tx
        if self.declared is not None and not self.declared[j].covers(Footprint.of_result(result)):
            publish = True
            if self._may_hold(j, result.reads):  # (if stale, it is redone as usual below)
                self.mispredictions += 1
                if self.exact_if_undeclared:  # its turn will redo it exactly
                    self.status[j] = EXACT
                    return
        self.results[j] = result
        self.status[j] = DONE
        for key in self.reads_by_tx[j]:
            self.readers.get(key, set()).discard(j)
            self.address_readers.get(key[1], set()).discard(j)
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
        self._wake(j)
        self._release(j)

    def _release(self, j: int) -> None:
        """j has finished (or committed): successors waiting only for it may run."""
        for k in self.successors[j]:
            waiting_for = self.pending[k]
            if j in waiting_for:
                waiting_for.discard(j)
                if not waiting_for and self.status[k] == WAITING:
                    self._make_ready(k)

    def _wake(self, writer: int) -> None:
        for k in self.waiting.pop(writer, ()):
            if self.status[k] == BLOCKED:
                self._make_ready(k)

    def _record(self, j: int, result, worker=None) -> None:
        """Put j's writes in MV memory, tell the workers, re-validate affected readers
        (not once the front finishes the block alone: nothing speculates any more,
        and the in-order commit validates what is left)."""
        if self.storm:
            return
        changed = self.mv.record(j, result.writes, result.new_code)
        self.pool.publish(("w", j, result.writes, result.new_code), origin=worker)
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
        for k in sorted(whole.union(partly)):
            if k > j and self.status[k] == DONE and not self._still_valid(k, None if k in whole else partly[k]):
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
        if self.status[k] != DONE:
            return
        self.aborts += 1
        self.incarnation[k] += 1
        self.results[k] = None
        self.mv.mark_estimate(k)
        self.pool.publish(("e", k))
        if gives_up(self.aborts, self.committer.accepted, self.n):
            # retry storm, or a dependency chain (aborts outrun accepted results):
            # the front finishes the block alone
            self.storm = True
            self.pool.release()
            # released workers skip what they have not begun: the front does those
            for j in self.in_flight:
                if self.status[j] == RUNNING:
                    self.status[j] = EXACT
            self.in_flight.clear()
        if self.incarnation[k] >= MAX_INCARNATIONS:
            self.status[k] = EXACT
        else:
            self._make_ready(k)

    def _block(self, j: int, writer: int) -> None:
        self.blocked += 1
        if self.status[writer] in (DONE, EXACT) and self.results[writer] is not None:
            self._make_ready(j)  # the writer already finished again
        else:
            self.status[j] = BLOCKED
            self.waiting.setdefault(writer, []).append(j)

    def _make_ready(self, j: int) -> None:
        self.status[j] = READY
        heapq.heappush(self.ready, (self.priority[j], j))
