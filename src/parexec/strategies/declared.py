"""Declared-access strategies: schedule by footprints known before execution.

Optimistic strategies (occ, block-stm) discover conflicts after the fact. These
know, or predict, each transaction's footprint first, as Solana's Sealevel
(account locks), Sui and Aptos (object level) and dependency-graph engines do:

* ``account-locks``: read/write locks per account; a transaction starts when no
  earlier unfinished one holds a conflicting lock, so block order decides.
* ``slot-locks``: the same per storage slot and account field.
* ``dag``: true dependencies only (j reads or writes what i writes); ready
  transactions with the most work waiting on them run first, the rest in block
  order. A sender's nonce is no dependency: it is predicted as the
  transaction's own (as occ and block-stm do), so one sender's many payouts run
  in parallel; the commit checks the prediction.

Footprints come from a block access list (``parexec access-list``; the
strategy's ``hints``) or, when asked (``predict``), from a speculative
pre-execution of every transaction on the pre-block state, in parallel on the
workers; each result of that pass that depends on nothing is kept as it is. By
default a block without a list runs with ``occ`` instead: on unseen mainnet
blocks pre-execution cost more than it saved (dag 0.94x serial, occ 1.35x). Declared footprints always
include what the transaction's fields name (recipient, EIP-2930 access list).

A block whose plan would take about as long as executing it in order runs
serially in the coordinator instead (``mostly_serial``): the plan's time is its
longest chain, each wait on another process's result counted as a cheap
transaction's work, or its work shared by the processes, whichever is longer
(on 2 workers a chain of cheap transactions ran 1.2-1.8x serial's time with exact
lists). Pre-execution asks the same of what it has found at ``CHAIN_CHECKS``
results, the results that depend on an earlier transaction's writes (stale:
they must run again) counted as the plan's work after the pass itself, and stops
as soon as the two passes would cost more than serial (a chain's pre-execution
is mostly wasted work: 2.1x serial's time); the coordinator then commits each
pre-executed result whose reads still hold, as occ commits a speculative one,
and executes the rest.

Execution runs on the same multi-version memory as Block-STM (MVRun), gated by
the dependencies. What a worker is handed cannot go stale (its declared
predecessors have finished), so workers hold a second chunk, and chunks are cut
by gas so that heavy transactions are not queued behind one another
(``DECLARED_CHUNKS``). A transaction that touched a location outside its declaration
is a misprediction: the lock strategies leave it to be redone exactly at its
turn, as Sealevel would reject it; ``dag`` keeps it and repairs what it breaks by
re-validating and re-executing the transactions that read its writes. Either
way the in-order commit validates every result, so the outcome equals serial.
"""

from __future__ import annotations

from dataclasses import replace

from parexec.access.dependencies import dependencies
from parexec.access.footprint import EMPTY, Footprint, static_footprint
from parexec.block.env import BlockEnv
from parexec.model import RunStats
from parexec.parallel.chunks import DECLARED_CHUNKS
from parexec.parallel.commit import InOrderCommitter
from parexec.parallel.mv_run import MVRun, RunPlan
from parexec.parallel.protocol import DONE
from parexec.parallel.run_trace import PRE_EXECUTION
from parexec.parallel.schedule import Schedule
from parexec.parallel.all_at_once import execute_all
from parexec.parallel.worker_pool import open_block
from parexec.strategies.base import ParallelStrategy

# A plan's time against serial's, in gas: a transaction costs its gas and TX_BASE_GAS
# more (py-evm's fixed cost: a 21,000-gas transfer takes about 0.24 ms, as long as
# 80,000 gas of an ERC-20 transfer's work), a wait for a result of another process
# WAIT_GAS (its trip through the coordinator to the waiting transaction's worker:
# a stride-4 chain of cheap transactions ran no faster than serial on 2 workers)
TX_BASE_GAS = 60_000
WAIT_GAS = 100_000
SERIAL_RATIO = 0.9  # a plan estimated at more than this of serial's time runs serially
CHAIN_CHECKS = (32, 64, 128)  # pre-execution results at which it checks for a chain
SERIAL_MIN_TXS = CHAIN_CHECKS[0]  # smaller blocks are not checked: what they could lose is small
FRONT_MIN_TXS = 16  # pre-execution results that say enough about a block's dependencies
# a pre-executed result is stale where it reads what an earlier one writes: dag's
# rule (granularity, rule, predicted nonces), whatever the strategy's locks
STALE_RULE = ("slot", "data", True)


def plan_time(deps: list[set[int]], weights: list[float], processes: int,
              done: frozenset[int] = frozenset()) -> tuple[float, float]:
    """The plan's estimated time and serial's, in gas (TX_BASE_GAS, WAIT_GAS):
    the longest chain of waits, or the work shared by ``processes``, whichever is
    longer. Transactions ``done`` (kept pre-executed results) cost nothing and are
    waited for by no one."""
    finish = [0.0] * len(deps)
    work = 0.0
    for j, waits in enumerate(deps):  # waits are earlier transactions
        if j in done:
            continue
        cost = weights[j] + TX_BASE_GAS
        work += cost
        finish[j] = cost + max((finish[i] + WAIT_GAS for i in waits if i not in done), default=0.0)
    return max(max(finish, default=0.0), work / processes), work


def mostly_serial(deps: list[set[int]], weights: list[float], processes: int,
                  done: frozenset[int] = frozenset(), min_txs: int = SERIAL_MIN_TXS) -> bool:
    """Whether the plan is estimated to take about as long as serial or longer
    (``plan_time``), so that the engine's coordination would not pay: a chain, or a
    hot sender's payouts under locks. Counting the transactions that wait is not
    enough: under account locks nearly every mainnet transaction waits, and most
    of those blocks still ran 1.15-1.3x faster in parallel."""
    if len(deps) < min_txs:
        return False
    parallel, serial = plan_time(deps, weights, processes, done)
    return parallel > SERIAL_RATIO * serial


def pre_execution_loses(stale: list[bool], deps: list[set[int]], weights: list[float], processes: int,
                        min_txs: int = FRONT_MIN_TXS) -> bool:
    """Whether pre-executing the whole block (its work shared by ``processes``)
    and then running the plan for the ``stale`` results (those that read an
    earlier transaction's writes) would take longer than serial."""
    if len(deps) < min_txs:
        return False
    done = frozenset(j for j, s in enumerate(stale) if not s)
    parallel, _ = plan_time(deps, weights, processes, done)
    total = sum(weights) + TX_BASE_GAS * len(weights)
    return total / processes + parallel > SERIAL_RATIO * total


class DeclaredAccessStrategy(ParallelStrategy):
    """Schedules by footprints declared before execution (access lists, or pre-execution)."""

    name = "declared"
    engine = "mv-run"
    granularity = "account"
    rule = "locks"
    longest_path_first = False
    exact_if_undeclared = True
    predict_nonces = False  # schedule as if each sender's nonce were known (it is: tx.nonce)

    def __init__(self, min_parallel_txs: int | None = None, hints=None, predict: bool = False):
        """``hints``: an object with ``footprints_for(block)`` returning a list of
        Footprints (one per transaction) or None. A block without them runs with
        ``occ`` (pre-execution costs more than it saves: 0.94x serial on unseen
        mainnet blocks), unless ``predict``: then pre-execution predicts them."""
        if min_parallel_txs is None:
            super().__init__()
        else:
            super().__init__(min_parallel_txs)
        self.hints, self.predict = hints, predict

    @classmethod
    def plan(cls, footprints, weights) -> RunPlan:
        """What each transaction waits for, its priority and the chunk policy, from
        the declared ``footprints`` and each transaction's expected work
        (``weights``, by gas). The simulator (analysis.simulator) plans with this too."""
        deps = dependencies(footprints, cls.granularity, cls.rule, cls.predict_nonces)
        if not cls.longest_path_first:
            return RunPlan(deps, None, DECLARED_CHUNKS)
        # first the transactions with the most work waiting on them, then block
        # order: what nothing waits for is best run in order, so that the in-order
        # commit is never starved by out-of-order results
        remaining = Schedule(len(deps), deps).critical_path(weights)
        priority = [(own - rest, j) for j, (rest, own) in enumerate(zip(remaining, weights))]
        return RunPlan(deps, priority, DECLARED_CHUNKS)

    def run_parallel(self, env: BlockEnv, block, state, workers):
        hinted = self.hints.footprints_for(block) if self.hints is not None else None
        if hinted is not None and len(hinted) != len(block.transactions):
            raise ValueError(f"hints give {len(hinted)} footprints for a block of "
                             f"{len(block.transactions)} transactions")
        if hinted is None and not self.predict:  # no list, no loss
            from parexec.strategies.occ import OCCStrategy

            results, stats = OCCStrategy().run_parallel(env, block, state, workers)
            return results, replace(stats, hints="none: occ")
        if hinted is None:
            footprints, results, here = self._pre_execute(env, block, state, workers)
            if footprints is None:  # a chain: pre-execution stopped
                return self._serially(env, block, state, "pre-execution", results, here)
        else:
            footprints, results, here = hinted, {}, 0
        txs = block.transactions
        declared = [fp | static_footprint(tx, fp.sender or _sender(tx)) for fp, tx in zip(footprints, txs)]
        weights = [results[j].gas_used if j in results else tx.gas for j, tx in enumerate(txs)]
        plan = self.plan(declared, weights)
        initial = {j: r for j, r in results.items() if not plan.deps[j]}  # final as pre-executed
        if mostly_serial(plan.deps, weights, workers, frozenset(initial)):
            return self._serially(env, block, state, "access list" if hinted is not None else "pre-execution",
                                  results, here, deps=plan.deps)
        run = MVRun(env, block, state, workers, plan, declared=declared,
                    exact_if_undeclared=self.exact_if_undeclared, initial=initial)
        results, stats = run.execute()
        pre_executions = len(txs) if hinted is None else 0
        return results, replace(
            stats,
            dependencies=sum(len(d) for d in plan.deps),
            pre_executions=pre_executions,
            executions=stats.executions + pre_executions,
            coordinator_executions=stats.coordinator_executions + here,
            hints="access list" if hinted is not None else "pre-execution",
        )

    def _serially(self, env, block, state, hints: str, pre_executed: dict, pre_executed_here: int = 0, deps=()):
        """The block in the coordinator alone (``gave_up``), with the plan's counters
        (``deps``) if there was one: the waits it would have had. A pre-executed
        result whose reads still hold at its turn is committed as it is, as occ
        commits a speculative one, so the pre-execution is not all lost (on a
        block where every other transaction depends on the ones before, half of it
        holds)."""
        committer = InOrderCommitter(env, block, state)
        for j in range(len(block.transactions)):
            committer.offer(pre_executed.get(j))
        return committer.results, RunStats(
            txs=len(block.transactions), mode="parallel" if pre_executed else "serial", gave_up=True,
            executions=len(pre_executed) + committer.exact_executions,
            coordinator_executions=pre_executed_here + committer.exact_executions, reexecutions=committer.rejected,
            speculative_accepted=committer.accepted, hints=hints, pre_executions=len(pre_executed),
            lock_waits=sum(1 for d in deps if d), dependencies=sum(len(d) for d in deps),
        )

    def _pre_execute(self, env, block, state, workers) -> tuple[list[Footprint] | None, dict, int]:
        """Every transaction once on the pre-block state: workers take chunks from the
        back, the coordinator works from the front. Returns footprints (empty for a
        transaction that failed there), the results and how many of them the
        coordinator executed itself; footprints None if it stopped at a chain
        (``_looks_serial``), with the results it had by then."""
        n = len(block.transactions)
        pool, mv = open_block(block, state, workers, PRE_EXECUTION)
        # checked once the results, and apart from them the unbroken run of results
        # from the block's front, pass each checkpoint (results come in chunks)
        checks = {"all": list(CHAIN_CHECKS), "front": [FRONT_MIN_TXS, *CHAIN_CHECKS]}
        front = [0]  # the unbroken run's length

        def passed(which: str, count: int) -> bool:
            due = checks[which]
            if not due or count < due[0]:
                return False
            while due and count >= due[0]:
                due.pop(0)
            return True

        def stop(outcomes) -> bool:
            while front[0] in outcomes:
                front[0] += 1
            if passed("all", len(outcomes)) | passed("front", front[0]):
                return self._looks_serial(outcomes, workers)
            return False

        outcomes, here = execute_all(env, block, pool, mv, stop=stop, by_gas=False)
        if len(outcomes) < n:
            pool.drain()
            return None, {j: o.value for j, o in outcomes.items() if o.kind == DONE}, here
        footprints, results = [], {}
        for j in range(n):
            outcome = outcomes[j]
            if outcome.kind == DONE:
                footprints.append(Footprint.of_result(outcome.value))
                results[j] = outcome.value
            else:
                footprints.append(EMPTY)
        return footprints, results, here


    def _looks_serial(self, outcomes: dict, processes: int) -> bool:
        """Whether the pre-execution results so far say that finishing the pass
        and running the plan would cost more than serial (``pre_execution_loses``):
        all of them in block order, or the unbroken run from the block's front
        alone (the coordinator's, in order: where a few writers feed many readers,
        a sample from both ends misses most of the edges that the front shows),
        their stale results found by STALE_RULE."""
        done = [outcomes[j].value for j in sorted(outcomes) if outcomes[j].kind == DONE]
        front = []
        while len(front) in outcomes and outcomes[len(front)].kind == DONE:
            front.append(outcomes[len(front)].value)
        own_rule = (self.granularity, self.rule, self.predict_nonces)
        for results in (done, front):
            footprints = [Footprint.of_result(r) for r in results]
            stale_deps = dependencies(footprints, *STALE_RULE)
            deps = stale_deps if own_rule == STALE_RULE else dependencies(footprints, *own_rule)
            stale = [bool(d) for d in stale_deps]
            if pre_execution_loses(stale, deps, [r.gas_used for r in results], processes):
                return True
        return False


class AccountLocksStrategy(DeclaredAccessStrategy):
    """Sealevel: read/write locks per account, taken in block order."""

    name = "account-locks"
    granularity = "account"


class SlotLocksStrategy(DeclaredAccessStrategy):
    """Object level (Sui, Aptos): locks per storage slot and account field."""

    name = "slot-locks"
    granularity = "slot"


class DagStrategy(DeclaredAccessStrategy):
    """Dependency graph: waits for true dependencies only, the longest path first."""

    name = "dag"
    granularity = "slot"
    rule = "data"
    longest_path_first = True
    exact_if_undeclared = False
    predict_nonces = True


def _sender(tx) -> bytes | None:
    """The sender when no footprint names it (None if the signature does not
    recover: the transaction is invalid and its execution says so)."""
    try:
        return tx.sender
    except Exception:  # py-evm raises several kinds for a bad signature
        return None
