"""Every transaction of a block once, on one memory, no one waiting for anyone:
how declared-access strategies predict footprints (on the pre-block state) and
how ``bal`` executes (on a block access list's values). Since no execution
depends on another, the order is free: the heaviest transactions (by gas limit,
all that is known before executing) go first, so that none starts last and
holds up the block. Workers take chunks from the heavy end (as many
transactions as fit a share of the block's gas, at most CHUNK), the coordinator
works from the light end; where they meet, the coordinator claims what the
workers have not started, and a worker with nothing left gets a chunk
another holds queued behind a long transaction (move_to_idle). Pre-execution
keeps block order instead (the coordinator from the front, the workers from
the back): what it has found at any point is then a prefix and a suffix of
the block, whose dependencies show whether the pass will pay."""

from __future__ import annotations

import math
import time

from parexec.parallel.protocol import DONE, Outcome
from parexec.parallel.worker import run_tasks

CHUNK = 16  # at most: enough to pay for a round trip
# chunks a worker holds: the next waits in its pipe while it works on one. The
# coordinator tops them up between its own transactions, the block's lightest, so
# a deeper queue buys nothing and would leave a worker that drew a long
# transaction holding work the others could do (the coordinator claims it only
# at the end)
QUEUE = 2
# rounds of handing out work over which the coordinator spreads its own preparation
# (bal: entering the whole list, then staging; indexing it comes first, once every worker
# has its first chunks), so that the workers never wait for their next chunk
PREPARE_ROUNDS = 16
# the coordinator executes up to a chunk over this many of its own at a time: fewer
# rounds of topping up and taking results in between them (bal on erc20:txs=1000 and
# chain:txs=300, 2 workers: 1-3% faster than one at a time; 16 at a time, 10% slower)
OWN_SHARE = 4


def chunk_size(n: int, workers: int) -> int:
    """Transactions per chunk: CHUNK, smaller when a block has too few for every
    worker to get several (so that many workers share a small block)."""
    return max(1, min(CHUNK, math.ceil(n / (4 * workers))))


def heavy_last(gas_limits: list[int]) -> list[int]:
    """Transaction indices from the lightest gas limit to the heaviest (ties in
    block order): the coordinator takes the front, workers the back."""
    return sorted(range(len(gas_limits)), key=gas_limits.__getitem__)


class Dispenser:
    """The order (by gas, or block order), handed out from both ends: chunks from
    the back (the heavy end), single transactions from the front. A chunk holds
    at most ``chunk`` transactions and, past its first, no more gas than
    ``budget`` (a share of the block's, so that heavy transactions travel alone);
    it is at most half of what is left, so the end is shared."""

    def __init__(self, gas_limits: list[int], workers: int, by_gas: bool = True):
        self.order = heavy_last(gas_limits) if by_gas else list(range(len(gas_limits)))
        self.gas = gas_limits
        self.chunk = chunk_size(len(gas_limits), workers)
        self.budget = sum(gas_limits) / (4 * workers)
        self.front, self.back = 0, len(gas_limits)

    def take_chunk(self) -> list[int]:
        size = min(self.chunk, (self.back - self.front) // 2)
        taken, gas = 0, 0
        while taken < size:
            g = self.gas[self.order[self.back - 1 - taken]]
            if taken and gas + g > self.budget:
                break
            gas += g
            taken += 1
        tasks = self.order[self.back - taken:self.back]
        self.back -= taken
        return tasks

    def take_own(self, most: int | None = None) -> list[int]:
        """The coordinator's next transactions from the front (the light end): short
        of the workers' part, a few at a time (a quarter of a chunk, or ``most``:
        fewer rounds of topping up and taking results in, while each worker holds
        more than that queued), never more than a quarter of what is left between
        the ends; once the ends have met, one (a claim)."""
        size = max(1, min(most or self.chunk // OWN_SHARE, (self.back - self.front) // 4))
        tasks = self.order[self.front:self.front + size]
        self.front += len(tasks)
        return tasks


def execute_all(env, block, pool, mv, check=None, ready=None, stop=None,
                by_gas=True, commit=None, clock=None) -> tuple[dict[int, Outcome], int]:
    """Each transaction's outcome on ``mv`` (``pool``: the workers, holding the
    same memory; None: the coordinator alone), by index, and how many executions
    the coordinator did itself. Every execution of a
    transaction sees the same view, so one done twice (a claim that reached a
    worker late) only costs time. ``check(j, result)``: called on each result
    the coordinator computes, as it computes it (workers check their own).
    ``ready()``: a step of the coordinator's own preparation, True once it is
    done; the steps come between rounds of handing out work (the workers start
    at once and are kept fed), before the coordinator executes anything or takes
    any result in. ``stop(outcomes)``: asked after each transaction the coordinator
    executes; True ends the run there, the workers released (the caller drains
    the pool), with the outcomes so far. ``by_gas``: heaviest first (else block
    order). ``commit(outcomes)``: called between rounds once the preparation is
    done, and as the last results come in, with the outcomes so far (bal commits
    those whose predecessors are all in). ``clock``: a
    coordinator_time.CoordinatorTime to add the time of its own executions, its
    preparation, its commits and its waiting to, the results it took in from
    the workers and the messages it wrote to them."""
    n = len(block.transactions)
    outcomes: dict[int, Outcome] = {}
    here = 0

    def execute_here(tasks):
        nonlocal here
        here += len(tasks)
        began = time.perf_counter() if clock is not None else 0.0
        for o in run_tasks(env, block.transactions, mv, tasks, chain=False):
            if check is not None and o.kind == DONE:
                check(o.tx, o.value)
            outcomes[o.tx] = o
        if clock is not None:
            clock.own += time.perf_counter() - began

    prepared = ready is None

    def prepare(whole: bool) -> None:
        """A step of the coordinator's preparation (``whole``: all that is left)."""
        nonlocal prepared
        began = time.perf_counter() if clock is not None else 0.0
        while not prepared:
            prepared = ready()
            if not whole:
                break
        if clock is not None:
            clock.prepare += time.perf_counter() - began

    def take(collected):
        got, orphaned = collected
        outcomes.update((o.tx, o) for o in got)
        if clock is not None:
            clock.worker_results += len(got)
        if orphaned:  # their worker died
            prepare(whole=True)
            execute_here(orphaned)

    def committing() -> None:
        if commit is None or not prepared:
            return
        began = time.perf_counter() if clock is not None else 0.0
        commit(outcomes)
        if clock is not None:
            clock.commit += time.perf_counter() - began

    if pool is None:
        prepare(whole=True)
        execute_here(range(n))
        return outcomes, here
    waited, messages = pool.waited, pool.messages
    plan = Dispenser([tx.gas for tx in block.transactions], len(pool.workers) + 1, by_gas)
    order = plan.order
    moved: set[int] = set()  # tasks taken from one worker's queue to another's
    while plan.front < n:
        for _ in range(QUEUE):  # top every worker up, a chunk each per round
            hungry = pool.idle_workers(queue=QUEUE)
            for worker in hungry:
                tasks = plan.take_chunk()
                if not tasks:
                    break
                pool.submit(worker, tasks, chain=False)
            if not hungry or plan.back - plan.front < 2:
                break
        if not prepared:
            prepare(whole=False)
            take(pool.collect(0))
            continue
        take(pool.collect(0))
        if plan.front >= plan.back:  # in the workers' part: take what they have not started
            # (one a worker has done comes with the rest of its run: doing it here too
            # would only cost time, a heavy one much)
            started = {j for w in pool.workers for j in pool.started(w)}
            move_to_idle(pool, outcomes, started, moved)
            while plan.front < n and (order[plan.front] in outcomes or order[plan.front] in started):
                plan.front += 1
            if plan.front == n:
                break
            j = order[plan.front]
            for worker in pool.workers:
                if any(j in tasks for tasks in worker.requests):
                    pool.claim_only(worker, (j,))
        execute_here(plan.take_own(most=None if stop is None else 1))  # ``stop``: asked after each one
        if stop is not None and stop(outcomes):
            pool.release()
            return outcomes, here
        committing()
    while len(outcomes) < n:
        take(pool.collect(None))
        committing()
    pool.drain()
    if clock is not None:
        clock.wait += pool.waited - waited
        clock.messages += pool.messages - messages
    return outcomes, here


def move_to_idle(pool, done, started, moved: set[int]) -> None:
    """Once the ends have met, give each worker with nothing left the last
    request (not moved yet) that another worker holds behind the one it is on,
    if none of its tasks has begun; the worker with the most tasks not begun
    gives first, each one request a call. The tasks are claimed there (that
    worker skips them) and sent here. Without it a worker that drew a long
    transaction sits on its queued chunk while the others wait, and the
    coordinator claims those one at a time, after its own. ``done``: the tasks
    with an outcome; ``started``: those a worker has begun; ``moved``: the
    tasks moved so far (a moved request stays with its first worker until that
    one answers it). A task its first worker begins before the claim arrives
    runs twice: the same view, the same result, only time."""
    idle = [worker for worker in pool.workers if not worker.requests]
    if not idle:
        return
    offers = []  # (tasks not begun, worker, the request it gives)
    for worker in pool.workers:
        queued = [r for r in worker.requests if not moved.issuperset(r)]
        if len(queued) < 2 or any(j in started or j in done or j in moved for j in queued[-1]):
            continue
        offers.append((sum(j not in started for r in queued for j in r), worker, queued[-1]))
    offers.sort(key=lambda offer: -offer[0])  # ties in the workers' order
    for thief, (_, victim, tasks) in zip(idle, offers):
        pool.claim_only(victim, tasks)
        moved.update(tasks)
        pool.submit(thief, tasks, chain=False)
