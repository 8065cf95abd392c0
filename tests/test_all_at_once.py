"""The all-at-once loop's hand-out (parallel/all_at_once.py): heaviest first,
every transaction exactly once, heavy ones alone; where the ends meet, queued
work that no worker has begun moves to a worker with none."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from parexec.parallel.all_at_once import CHUNK, OWN_SHARE, Dispenser, move_to_idle
from parexec.parallel.worker_pool import Worker, WorkerPool


@given(gas=st.lists(st.integers(21_000, 30_000_000), min_size=1, max_size=300), workers=st.integers(2, 64),
       fronts=st.lists(st.integers(0, 3), max_size=400))
def test_every_transaction_is_handed_out_once_heaviest_first(gas, workers, fronts):
    plan = Dispenser(gas, workers)
    handed: list[int] = []
    chunks = []
    for step in fronts + [1] * (2 * len(gas)):  # the coordinator takes 0-3 turns of its own between top-ups
        for _ in range(step):
            if plan.front < plan.back:
                left = plan.back - plan.front
                own = plan.take_own()  # a few from the light end, never the bulk of what is left
                assert 1 <= len(own) <= max(1, min(plan.chunk // OWN_SHARE, left // 4))
                assert own == plan.order[plan.front - len(own):plan.front]
                handed.extend(own)
        chunk = plan.take_chunk()
        if chunk:
            chunks.append(chunk)
            handed.extend(chunk)
        if plan.front >= plan.back:
            break
    assert sorted(handed) == list(range(len(gas)))  # each once
    heaviest_first = [j for chunk in chunks for j in reversed(chunk)]
    assert [gas[j] for j in heaviest_first] == sorted((gas[j] for j in heaviest_first), reverse=True)
    for chunk in chunks:
        assert len(chunk) <= CHUNK
        assert len(chunk) == 1 or sum(gas[j] for j in chunk) <= plan.budget  # a heavy one travels alone


def test_ties_keep_block_order():
    assert Dispenser([50_000, 21_000, 50_000, 21_000], 2).order == [1, 3, 0, 2]


def _Worker(*requests, running=-1):
    """A pool's Worker without a process: its requests, and the task it is on."""
    return Worker(process=None, conn=None, running=SimpleNamespace(value=running),
                  requests=deque(list(r) for r in requests))


class _Pool:
    """What move_to_idle asks of a pool: its workers, what each has begun (the
    pool's own reading), claims and submits."""

    started = staticmethod(WorkerPool.started)

    def __init__(self, *workers):
        self.workers = list(workers)
        self.claims, self.sent = [], []

    def claim_only(self, worker, tasks):
        self.claims.append((self.workers.index(worker), tuple(tasks)))

    def submit(self, worker, tasks, chain):
        worker.requests.append(list(tasks))
        self.sent.append((self.workers.index(worker), list(tasks)))


def test_an_idle_worker_gets_the_queued_request_of_the_busiest():
    """Worker 0 is on a long transaction (9) with two requests queued behind it,
    worker 1 on one with one queued, worker 2 has nothing: it gets worker 0's
    last request, claimed there; a second idle worker then gets the request
    before it (worker 0 still has the most waiting), not the one moved."""
    busy, other, idle = _Worker([9], [7, 6], [5], running=9), _Worker([8], [4], running=8), _Worker()
    pool = _Pool(busy, other, idle)
    moved: set[int] = set()
    move_to_idle(pool, set(), set(pool.started(busy)) | set(pool.started(other)), moved)
    assert pool.sent == [(2, [5])] and pool.claims == [(0, (5,))] and moved == {5}
    late = _Worker()
    pool.workers.append(late)
    move_to_idle(pool, set(), {9, 8}, moved)  # worker 2 is busy now; worker 3 is idle
    assert pool.sent[1:] == [(3, [7, 6])] and pool.claims[1:] == [(0, (7, 6))]  # one claim for the request
    move_to_idle(pool, set(), {9, 8}, moved)  # both busy now: nothing moves
    assert len(pool.sent) == 2


def test_in_one_call_each_idle_worker_gets_one_request_the_busiest_giving_first():
    a = _Worker([9], [7, 6], [5, 4, 3], running=9)  # 5 waiting
    b = _Worker([8], [2], running=8)  # 1 waiting
    c, d, e = _Worker(), _Worker(), _Worker()
    pool = _Pool(a, b, c, d, e)
    moved: set[int] = set()
    move_to_idle(pool, set(), {9, 8}, moved)
    assert pool.sent == [(2, [5, 4, 3]), (3, [2])]  # a gives once, then b; e waits for the next call
    move_to_idle(pool, set(), {9, 8}, moved)
    assert pool.sent[2:] == [(4, [7, 6])]


def test_nothing_moves_that_has_begun_or_is_done_or_that_a_worker_is_on():
    on_it = _Worker([3, 2], running=2)  # its only request, begun
    ahead = _Worker([6], [1, 0], running=1)  # its queued request was begun (a claim reached it late)
    done = _Worker([7], [5])
    idle = _Worker()
    pool = _Pool(on_it, ahead, done, idle)
    move_to_idle(pool, {5}, set(pool.started(on_it)) | set(pool.started(ahead)) | {7}, set())
    assert pool.sent == [] and pool.claims == []
