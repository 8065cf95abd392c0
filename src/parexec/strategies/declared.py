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
strategy's ``hints``) or, without one, from a speculative pre-execution of every
transaction on the pre-block state, in parallel on the workers. Each result of
that pass that depends on nothing is kept as it is. Declared footprints always
include what the transaction's fields name (recipient, EIP-2930 access list).

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

from parexec.access.dependencies import critical_path, dependencies
from parexec.access.footprint import EMPTY, Footprint, static_footprint
from parexec.block.env import BlockEnv
from parexec.parallel.chunks import DECLARED_CHUNKS
from parexec.parallel.mv_memory import MVMemory
from parexec.parallel.worker import run_tasks
from parexec.parallel.worker_pool import get_pool
from parexec.state.overlay import OverlayState
from parexec.strategies.base import ParallelStrategy
from parexec.strategies.block_stm import MVRun

PRE_CHUNK = 16


class DeclaredAccessStrategy(ParallelStrategy):
    name = "declared"
    granularity = "account"
    rule = "locks"
    longest_path_first = False
    exact_if_undeclared = True
    predict_nonces = False  # schedule as if each sender's nonce were known (it is: tx.nonce)

    def __init__(self, min_parallel_txs: int | None = None, hints=None):
        """``hints``: an object with ``footprints_for(block)`` returning a list of
        Footprints (one per transaction) or None (then pre-execution predicts)."""
        if min_parallel_txs is None:
            super().__init__()
        else:
            super().__init__(min_parallel_txs)
        self.hints = hints

    @classmethod
    def schedule(cls, footprints, weights) -> tuple[list[set[int]], list | None]:
        """Per transaction, what it waits for and its priority (smaller first; None:
        block order). ``weights``: each transaction's expected work, by gas. The
        simulator (analysis/simulator.py) schedules with this too."""
        deps = dependencies(footprints, cls.granularity, cls.rule, cls.predict_nonces)
        if not cls.longest_path_first:
            return deps, None
        # first the transactions with the most work waiting on them, then block
        # order: what nothing waits for is best run in order, so that the in-order
        # commit is never starved by out-of-order results
        remaining = critical_path(deps, weights)
        return deps, [(own - rest, j) for j, (rest, own) in enumerate(zip(remaining, weights))]

    def run_parallel(self, env: BlockEnv, block, state, workers):
        hinted = self.hints.footprints_for(block) if self.hints is not None else None
        if hinted is not None and len(hinted) != len(block.transactions):
            raise ValueError(f"hints give {len(hinted)} footprints for a block of "
                             f"{len(block.transactions)} transactions")
        if hinted is None:
            footprints, results = self._pre_execute(env, block, state, workers)
        else:
            footprints, results = hinted, {}
        txs = block.transactions
        declared = [fp | static_footprint(tx, fp.sender or _sender(tx)) for fp, tx in zip(footprints, txs)]
        weights = [results[j].gas_used if j in results else tx.gas for j, tx in enumerate(txs)]
        deps, priority = self.schedule(declared, weights)
        initial = {j: r for j, r in results.items() if not deps[j]}
        run = MVRun(env, block, state, workers, deps=deps, priority=priority, declared=declared,
                    exact_if_undeclared=self.exact_if_undeclared, initial=initial,
                    chunk_policy=DECLARED_CHUNKS)
        results, stats = run.execute()
        stats["dependencies"] = sum(len(d) for d in deps)
        stats["pre_executions"] = len(block.transactions) if hinted is None else 0
        stats["executions"] += stats["pre_executions"]
        stats["hints"] = "access list" if hinted is not None else "pre-execution"
        return results, stats

    def _pre_execute(self, env, block, state, workers) -> tuple[list[Footprint], dict]:
        """Every transaction once on the pre-block state: workers take chunks from the
        back, the coordinator works from the front. Returns footprints (empty for a
        transaction that failed there) and the results."""
        n = len(block.transactions)
        pre_writes, pre_code = state.diff(), state.new_code()
        base = OverlayState(state.base)
        base.apply(pre_writes, pre_code)
        mv = MVMemory(base)
        pool = get_pool(workers - 1)
        pool.start_block(state.base, block, pre_writes, pre_code)
        outcomes: dict[int, tuple] = {}

        def execute_here(tasks):
            outcomes.update((o[1], o) for o in run_tasks(env, block.transactions, mv, tasks, chain=False))

        def take(collected):
            got, orphaned = collected
            outcomes.update((o[1], o) for o, _worker in got)
            execute_here(orphaned)  # their worker died

        front, back = 0, n
        while len(outcomes) < n:
            for worker in pool.idle_workers(queue=2):
                if back - front <= 2 * PRE_CHUNK:
                    break
                pool.submit(worker, list(range(back - PRE_CHUNK, back)), chain=False)
                back -= PRE_CHUNK
            take(pool.collect(0))
            if front < back:
                execute_here([front])
                front += 1
            elif len(outcomes) < n:
                take(pool.collect(None))
        pool.drain()
        footprints, results = [], {}
        for j in range(n):
            kind, _, value = outcomes[j]
            if kind == "done":
                footprints.append(Footprint.of_result(value))
                results[j] = value
            else:
                footprints.append(EMPTY)
        return footprints, results


class AccountLocksStrategy(DeclaredAccessStrategy):
    name = "account-locks"
    granularity = "account"


class SlotLocksStrategy(DeclaredAccessStrategy):
    name = "slot-locks"
    granularity = "slot"


class DagStrategy(DeclaredAccessStrategy):
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
