"""``bal``: a block with its EIP-7928 access list runs every transaction at once.

The list gives every transaction's post-values, so no transaction waits for
another: each executes, on the workers, against the pre-block state plus the
list's values at every earlier index (parallel.list_memory: the list as
multi-version memory, its encoding and rules checked as it is entered), with no
conflict detection and no re-execution, heaviest first (parallel.all_at_once).
The workers get the list's RLP with the block and enter the accounts their
transactions read; the coordinator enters it whole, between its first rounds of
handing out work, and counts every transaction's changes. Whoever executes a
transaction holds its result to the list (access.eip7928_check: reads inside
the list, writes equal to its values at the transaction's index, nothing it
lists there left out: a worker sends the count of the list's changes it
accounts for, the coordinator holds it to its own); the coordinator commits the
results in block order as they come in (``BlockOrder``, between its rounds of
handing out work): a result that disagrees ends the block once those before it
are in, not after the last. If every transaction agrees, each saw exactly the
state serial execution gives it, so the block's outcome is serial's,
and its post-state is the list's last values: the coordinator stages them while
the workers run and merges them at the end (where a transaction destroys an
account or wipes storage, which values cannot say, the results are applied in
order instead).
A deletion no value of the list can show (EIP-161's of an empty account that
holds storage, which a CREATE2 there would collide with) the coordinator learns
from the result that made it, as it commits; a later transaction that disagreed
is executed once more, on a view that has it. So is a creation no value shows
(before EIP-161, an empty account a call creates), and then every later
transaction that may have seen the account is executed once more: its
existence shows only in gas, which the list does not hold.
Once every transaction is in, the list must hold nothing more than the block
accesses (the EIP: spurious entries invalidate it): the workers' replies
carried the accounts and slots their results accessed (they sent no reads;
where the coordinator learned a deletion or creation, it asks them about the
results it committed instead), and with the coordinator's own and those of
the steps around the transactions that must be every account and slot the
list names.
A transaction that disagrees, or a list that holds more, makes the block
invalid under list semantics ("invalid access list", naming the transaction
and the location, or what nothing accesses); with ``fallback`` the block
runs with ``dag`` instead, so a wrong list never gives a wrong result.

A block without a list is handed to ``occ`` (the best strategy without one on
these blocks), and the counters say so (``hints``).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import replace
from itertools import islice

from parexec.access.eip7928 import EncodedList, InvalidAccessList, item_cap
from parexec.access.eip7928_check import (
    Accessed,
    ListCheck,
    ListMismatch,
    check_inside,
    check_outside,
    holds_exactly,
    name_excess,
)
from parexec.block.validation import check_fits_in_block
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.model import EXISTS, BlockRejected, FixtureError, RunStats
from parexec.parallel import coordinator_time, run_trace
from parexec.parallel.all_at_once import PREPARE_ROUNDS, execute_all
from parexec.parallel.list_memory import ListMemory
from parexec.parallel.protocol import DONE
from parexec.parallel.worker_pool import open_block
from parexec.state.overlay import OverlayState


class BalStrategy:
    """EIP-7928 access lists: every transaction at once against the list's values, validated."""

    name = "bal"
    engine = "all-at-once"  # as analysis.simulator models it

    def __init__(self, min_parallel_txs: int | None = None, hints=None, fallback: bool = False):
        """``hints``: an object with ``eip7928_for(block)`` returning the block's
        BlockAccessList or None; ``fallback``: run a block whose list is wrong
        with ``dag`` instead of rejecting it."""
        self.hints, self.fallback = hints, fallback
        self.min_parallel_txs = min_parallel_txs

    def run_transactions(self, env, block, state, workers):
        listed = self._list_for(block)
        if listed is None:
            return self._instead("occ", "none: occ", env, block, state, workers)
        try:
            results, stats = _run(env, block, state, workers, listed, self.fallback)
        except ListMismatch as exc:
            if not self.fallback:
                raise BlockRejected(f"invalid access list: {exc}", None, "eip7928") from None
            return self._instead("dag", f"invalid list, dag: {exc}", env, block, state, workers)
        return results, stats

    def _list_for(self, block) -> EncodedList | None:
        """The block's list, still encoded where the hints can give it so (a file's
        bytes), or None. Hints may hold only parexec's lists."""
        encoded_for = getattr(self.hints, "eip7928_encoded_for", None)
        if encoded_for is not None:
            return encoded_for(block)
        lists_for = getattr(self.hints, "eip7928_for", None)
        access_list = lists_for(block) if lists_for is not None else None
        return None if access_list is None else EncodedList.of(access_list)

    def _instead(self, name: str, why: str, env, block, state, workers):
        from parexec.strategies import get_strategy

        options = {} if self.min_parallel_txs is None else {"min_parallel_txs": self.min_parallel_txs}
        results, stats = get_strategy(name, **options).run_transactions(env, block, state, workers)
        return results, replace(stats, hints=why)


def _run(env, block, state, workers: int, listed: EncodedList, fallback: bool) -> tuple[list, RunStats]:
    """Execute and check every transaction; ``state`` changes only once all agree."""
    txs = block.transactions
    n = len(txs)
    trace = run_trace.active()
    clock = coordinator_time.active()
    began = time.perf_counter()
    pre_block = state.diff(), state.new_code()  # index 0: what the pre-block system calls wrote
    if workers > 1 and n > 1:  # the workers enter the list as they read it, and check what they execute
        pool, start = open_block(block, state, workers, access_list=listed.rlp)
        base = start.base
    else:
        pool, base = None, state.copy()
        if trace is not None:
            trace.begin(run_trace.EXECUTION, state)
    opened = time.perf_counter()

    def rejected(exc):
        listed.decode_for(block)  # names the fault
        raise FixtureError(f"{listed.source}: not a valid EIP-7928 list: {exc}") from None

    mv = ListMemory(base, listed.rlp, n, item_cap(block), indexed=False)  # indexed by the first step
    step = 0  # accounts a step enters, once indexed
    staged = OverlayState(state)  # the post-state, from the list's values
    staging = None  # the list's final values not staged yet, and how many a step stages

    def prepare_a_step() -> bool:
        """A step of the coordinator's own work while the workers start: indexing
        the list's accounts (once every worker has its first chunks: each indexes
        its own copy meanwhile), entering the whole list (every rule checked before
        anything is executed here or any result held to it), then staging the
        post-state its values give; True once done. Entering and staging are each
        spread over PREPARE_ROUNDS steps, so that no worker waits long for its
        next chunk."""
        nonlocal staging, step
        if not step:
            try:
                mv.index()
            except InvalidAccessList as exc:
                rejected(exc)
            step = max(1, math.ceil(len(mv.waiting) / PREPARE_ROUNDS))
            return False
        if mv.waiting:
            try:
                mv.enter_some(step)
            except InvalidAccessList as exc:
                rejected(exc)
            return False
        if staging is None:
            final = mv.final_writes()
            staging = iter(final.items()), max(1, math.ceil(len(final) / PREPARE_ROUNDS))
        writes = dict(islice(*staging))
        staged.apply(writes)  # no account is deleted: an account's creation and fields may come in any order
        return not writes

    check = ListCheck(mv)
    checked: set[int] = set()

    def check_here(j, result):
        try:
            check.check(j, result)
        except ListMismatch:
            return  # the commit asks again, knowing the deletions before j
        checked.add(j)

    order = BlockOrder(env, block, mv, check, checked, fallback, trace)
    outcomes, here = execute_all(env, block, pool, mv, check_here, ready=prepare_a_step,
                                 commit=order.commit_ready, clock=clock)
    executed = time.perf_counter()
    order.commit_ready(outcomes)  # the rest
    rest_committed = time.perf_counter() - executed
    results, accessed = order.results, order.accessed
    after = settled(state, staged, results)
    check_around_transactions(env, block, state, after, pre_block, mv, accessed)
    if pool is None:
        by_workers: tuple[set, set] = (set(), set())
    elif order.exact or order.learned:  # a worker's execution may differ from the committed one: ask
        wanted: dict = defaultdict(list)  # per worker, the committed results it sent without reads
        for j, outcome in outcomes.items():  # (every worker's execution of a transaction sees the same view)
            if outcome.kind == DONE and outcome.value.reads is None and results[j].reads is None:
                wanted[outcome.worker].append(j)
        by_workers = workers_accessed(pool, wanted, accessed, order.exactly)
    else:  # every execution of a transaction saw the same view: what any of them accessed, as it came
        by_workers = pool.accessed
    addresses, slots = accessed.units()
    addresses |= by_workers[0]
    slots |= by_workers[1]
    if not holds_exactly(mv, addresses, slots):  # the EIP: spurious entries invalidate the block
        name_excess(mv, addresses, slots)
    state.absorb(after)
    if clock is not None:
        ended = time.perf_counter()
        clock.txs, clock.total, clock.finish = n, ended - began, ended - executed - rest_committed
        clock.commit += rest_committed
        clock.start = opened - began
    replaced, hung = pool.faults() if pool is not None else (0, 0)
    return results, RunStats(txs=n, mode="parallel" if pool is not None else "serial",
                             executions=n + order.exact, coordinator_executions=here + order.exact,
                             reexecutions=order.exact,
                             hints="eip7928 list",
                             workers_replaced=replaced, workers_hung=hung)


class BlockOrder:
    """The commit, in block order: a result is taken once every result before it
    is, held to the list where that was not done yet (a worker's that disagreed
    there, or that misses a change the list holds), executed once more where its
    view may have missed a deletion or a creation learned from one before it,
    and fitted into the block. The coordinator commits between its rounds of
    handing out work (all_at_once.execute_all's ``commit``), so that little is
    left once the last result is in; the accessed sets of the results it keeps
    with their reads (its own) are gathered as they are committed, final."""

    def __init__(self, env, block, mv: ListMemory, check: ListCheck, checked: set, fallback: bool, trace):
        self.env, self.block, self.mv, self.check, self.checked = env, block, mv, check, checked
        self.fallback, self.trace = fallback, trace
        self.results: list = []  # committed, in block order
        self.accessed = Accessed()
        self.gas_used = self.blob_gas_used = 0
        self.exact = 0  # executions at commit
        self.learned = False  # whether a result below has deleted or created an account where the list shows none
        # accounts a result below created where the list shows no creation (before EIP-161: empty ones)
        self.appeared: set[bytes] = set()

    def commit_ready(self, outcomes: dict) -> None:
        """Commit every transaction whose outcome is in and whose predecessors are committed."""
        j = len(self.results)
        while j in outcomes:
            self._commit(j, outcomes[j])
            j += 1

    def exactly(self, j: int):
        """Transaction j once more, at the coordinator, on the list's values and
        the deletions and creations learned from the results before it."""
        self.exact += 1
        started = time.monotonic()
        try:
            result = execute_transaction(self.env, self.mv.view(j), self.block.transactions[j], j)
        except InvalidTransaction as exc:
            if self.fallback:  # the list's values may be what makes it invalid
                raise ListMismatch(f"tx {j} is invalid on the list's values: {exc}") from None
            raise BlockRejected(f"invalid transaction: {exc}", j, exc.rule) from None
        if self.trace is not None:
            self.trace.span(run_trace.COORDINATOR, j, started, time.monotonic(), run_trace.EXACT, result)
        return result

    def _commit(self, j: int, outcome) -> None:
        mv, check = self.mv, self.check
        check_fits_in_block(self.block, j, self.gas_used, self.blob_gas_used)
        result = outcome.value if outcome.kind == DONE else None
        fresh = result is None or (self.appeared and _may_have_seen(result, self.appeared))
        if fresh:  # invalid or failed speculatively, or its view lacked an account created before it: exactly
            result = self.exactly(j)
            self.checked.discard(j)
        if j not in self.checked and (result.reads is not None or result.list_changes != mv.changes_at[j]):
            try:  # a worker's result that disagreed there, or misses a change the list holds
                check.check(j, result)
            except ListMismatch:
                if fresh or not self.learned:
                    raise
                result = self.exactly(j)  # its view may have missed a deletion the list cannot show
                check.check(j, result)
        if result.destroyed:
            for address in result.destroyed:
                self.learned |= mv.learn_deletion(address, j)
        if result.created:
            for address in result.created:
                if mv.learn_creation(address, j):
                    self.learned = True
                    self.appeared.add(address)
        self.gas_used += result.gas_used
        self.blob_gas_used += result.blob_gas_used
        self.results.append(result)
        if result.reads is not None:
            self.accessed.add(result.reads)
            self.accessed.add(result.writes)
        if self.trace is not None:
            self.trace.commit(j, result, speculative=outcome.kind == DONE)


def _may_have_seen(result, accounts: set) -> bool:
    """Whether ``result`` may have read one of ``accounts`` (a worker's result
    comes without its reads: it may have). An empty account's existence shows
    only in gas before EIP-161, which a zero gas price keeps out of every
    balance, so agreeing with the list does not clear such a result."""
    return result.reads is None or any(loc[1] in accounts for loc in result.reads)


def workers_accessed(pool, wanted: dict, accessed: Accessed, exactly) -> tuple[set, set]:
    """The accounts and slots the workers' committed executions accessed
    (``wanted``: per worker, the transactions whose committed result it sent
    without reads), asked of them (see WorkerPool.ask_accessed): once a
    deletion or creation is learned from a result, a worker's execution of a
    later transaction, executed again here, may have accessed what the
    committed execution did not, so only those whose committed result a worker
    sent count. A worker that died or cannot say
    has its transactions executed once more here (``exactly``), for what they
    access (into ``accessed``)."""
    asked = pool.ask_accessed(wanted)
    addresses, slots = set(), set()
    for worker, held in wanted.items():
        answer = pool.accessed_from(worker) if worker in asked else None
        if answer is not None:
            addresses |= answer[0]
            slots |= answer[1]
            continue
        for j in held:
            again = exactly(j)
            accessed.add(again.reads)
            accessed.add(again.writes)
    return addresses, slots


def settle(state, staged, results) -> None:
    """Apply the block's results to ``state`` (see ``settled``)."""
    state.absorb(settled(state, staged, results))


def settled(state, staged, results) -> OverlayState:
    """The state the block's results leave, as an overlay on ``state`` (for it to
    absorb). Each result agreed with the list, so the list's last values are
    what they leave: ``staged`` holds them, and gets the accounts the results
    create (an empty one the list cannot show) and the code they deploy. Where
    a result destroys an account or wipes storage (which a list's values cannot
    say), every result is applied in order instead, on a new overlay."""
    if any(result.destroyed or result.wiped for result in results):
        after = OverlayState(state)
        for result in results:
            after.apply(result.writes, result.new_code)
        return after
    codes = {}
    for result in results:
        if result.new_code:
            codes.update(result.new_code)
    staged.apply({(EXISTS, address): True for result in results for address in result.created}, codes)
    return staged


def check_around_transactions(env, block, state, after, pre_block, mv: ListMemory, accessed: Accessed) -> None:
    """Hold the list's changes at index 0 and n+1 to the block's: what the
    pre-block system calls wrote (``pre_block``: their writes and code, which
    ``state`` holds over the pre-state) and what withdrawals, rewards and the
    post-block system calls write on ``after`` (the state the transactions
    leave), computed here as the pipeline computes them next; every account
    and slot the steps around the transactions access must be in the list, and
    goes into ``accessed``: what they write, and what they read (the pre-block
    calls' reads are in ``env``: a system contract without code is read, never
    written). Raises ListMismatch."""
    from parexec.access.eip7928_builder import phase_changes
    from parexec.block.system import post_block_writes

    reads: set = set()
    post_writes, post_code, _ = post_block_writes(env, block, after, getattr(state.base, "complete", False), reads)
    around = Accessed()
    around.add(pre_block[0])
    around.add(env.pre_block_reads)
    around.add(reads)
    around.add(post_writes)
    check_inside(mv, around, "the steps around the transactions")
    accessed.add(around.locations)
    n = len(block.transactions)
    check_outside(mv, {0: phase_changes(OverlayState(state.base), *pre_block)[0],
                       n + 1: phase_changes(OverlayState(after), post_writes, post_code)[0]})
