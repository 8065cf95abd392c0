"""The multi-version engine's state machine and schedule (parallel.schedule),
driven directly, without worker processes: each transition, its preconditions,
the abort rule, and a random drive that must always finish the block."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parexec.parallel.chunks import DECLARED_CHUNKS, SPECULATIVE_CHUNKS
from parexec.parallel.schedule import (
    CHAIN_MIN_ABORTS,
    COMMITTED,
    EXECUTED,
    EXECUTING,
    FRONT,
    MAX_INCARNATIONS,
    READY,
    SUSPENDED,
    WAITING,
    Schedule,
    TxState,
)

GAS = 21_000


def schedule(n, deps=None, priority=None, gas=GAS):
    return Schedule(n, deps, priority, [gas] * n)


def run(s: Schedule, j: int) -> None:
    """Hand j out and bring its result back."""
    s.start(j)
    s.finish(j)
    s.release(j)


def test_states_start_waiting_for_declared_predecessors_else_ready():
    s = schedule(4, deps=[set(), {0}, set(), {0, 1}])
    assert s.status == [READY, WAITING, READY, WAITING]
    assert [j for _, j in sorted(s.ready)] == [0, 2]


def test_hand_out_gives_chunks_of_ready_work_above_the_front_and_marks_them_executing():
    s = schedule(10)
    out = list(s.hand_out(["a", "b"], size=3, policy=SPECULATIVE_CHUNKS))
    assert out == [("a", [1, 2, 3]), ("b", [4, 5, 6])]  # 0 is the front's own
    assert all(s.status[j] == EXECUTING for j in range(1, 7))
    assert s.status[0] == READY and s.take_one() == 7


def test_declared_chunks_are_cut_by_gas_and_share_out_the_last_ready_work():
    s = Schedule(6, gas_limits=[200_000] * 6)
    assert [t for _, t in s.hand_out(["a"], size=4, policy=DECLARED_CHUNKS)] == [[1]]  # 300k of gas limits
    s = schedule(5)
    # four ready, shared by two idle workers and the coordinator, not queued on one
    assert [t for _, t in s.hand_out(["a", "b"], size=16, policy=DECLARED_CHUNKS)] == [[1, 2], [3]]
    assert s.take_one() == 4


def test_release_readies_a_successor_once_all_its_predecessors_finished():
    s = schedule(3, deps=[set(), set(), {0, 1}])
    run(s, 1)
    assert s.status[2] == WAITING
    s.start(0)  # the front's transaction may run here too
    s.finish(0)
    s.release(0)
    assert s.status[2] == READY


def test_suspended_transaction_waits_for_its_writer_unless_the_writer_is_back():
    s = schedule(4)
    s.start(2)
    s.start(3)
    s.suspend(3, writer=2)  # 2 still executing
    assert s.status[3] == SUSPENDED and s.blocked == 1
    s.finish(2)
    s.release(2)
    assert s.status[3] == READY
    s.start(3)
    s.suspend(3, writer=2)  # 2 has a result now: run again at once
    assert s.status[3] == READY and s.blocked == 2


def test_abort_gives_a_new_incarnation_until_the_cap_then_leaves_it_for_the_front():
    s = schedule(100)
    for incarnation in range(1, MAX_INCARNATIONS + 1):
        s.start(5)
        s.finish(5)
        assert s.abort(5) is False
        assert s.incarnation[5] == incarnation
        assert s.status[5] == (READY if incarnation < MAX_INCARNATIONS else FRONT)
    assert not s.is_ready(5)


def test_only_a_finished_result_can_be_aborted():
    s = schedule(3)
    with pytest.raises(AssertionError):
        s.abort(1)  # READY
    s.start(1)
    with pytest.raises(AssertionError):
        s.abort(1)  # EXECUTING


def test_the_chain_rule_stops_speculation_once_aborts_outrun_accepted_results():
    n = 200
    s = schedule(n)
    started = [j for _, tasks in s.hand_out(["a"], size=16, policy=SPECULATIVE_CHUNKS) for j in tasks]
    stopped = []
    for j in range(20, 20 + CHAIN_MIN_ABORTS):
        s.start(j)
        s.finish(j)
        stopped.append(s.abort(j))
    assert stopped == [False] * (CHAIN_MIN_ABORTS - 1) + [True]  # said once, when it happens
    assert s.gave_up
    assert all(s.status[j] == FRONT for j in started)  # what was out is the front's now
    assert list(s.hand_out(["a"], size=16, policy=SPECULATIVE_CHUNKS)) == []
    assert s.take_one() is None


def test_accepted_results_keep_the_chain_rule_off():
    s = schedule(300)
    for j in range(CHAIN_MIN_ABORTS):  # as many accepted as will be aborted
        s.commit(j, accepted=True)
    for j in range(100, 100 + CHAIN_MIN_ABORTS):
        s.start(j)
        s.finish(j)
        assert s.abort(j) is False
    assert not s.gave_up


def test_commit_is_in_order_and_never_of_an_executing_transaction():
    s = schedule(3, deps=[set(), {0}, set()])
    with pytest.raises(AssertionError):
        s.commit(1, accepted=False)  # not the front
    s.start(0)
    with pytest.raises(AssertionError):
        s.commit(0, accepted=False)  # still executing
    s.finish(0)
    s.commit(0, accepted=True)
    assert s.status[0] == COMMITTED and s.front == 1 and s.accepted == 1
    assert s.status[1] == READY  # released by the commit
    s.commit(1, accepted=False)  # the front executes it exactly
    s.commit(2, accepted=False)
    assert s.done and s.accepted == 1


def test_a_lost_execution_is_handed_out_again():
    s = schedule(5)
    (_, tasks), = s.hand_out(["a"], size=2, policy=SPECULATIVE_CHUNKS)
    for j in tasks:
        s.lose(j)
    assert [j for _, j in s.hand_out(["b"], size=2, policy=SPECULATIVE_CHUNKS)][0] == tasks


def test_critical_path_weights_the_longest_chain_first():
    assert schedule(4, deps=[set(), {0}, {1}, set()]).critical_path([1, 1, 1, 5]) == [3, 2, 1, 5]
    assert schedule(3, deps=[set(), {0}, {0}]).critical_path([2, 3, 1]) == [5, 3, 1]


def test_priority_orders_the_hand_out():
    s = schedule(5, priority=[0, 4, 3, 2, 1])
    assert [t for _, t in s.hand_out(["a"], size=4, policy=SPECULATIVE_CHUNKS)] == [[4, 3, 2, 1]]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.sampled_from([SPECULATIVE_CHUNKS, DECLARED_CHUNKS]))
def test_any_sequence_of_legal_transitions_finishes_the_block(seed, n, policy):
    """A random coordinator: outcomes of every kind, in any order, with random
    aborts and commits. The invariants hold at every step and every
    transaction ends COMMITTED."""
    rng = random.Random(seed)
    deps = [{i for i in range(j) if rng.random() < 0.1} for j in range(n)]
    s = Schedule(n, deps, None, [rng.choice([21_000, 200_000]) for _ in range(n)])
    out: list[int] = []  # executing on "workers"
    for _step in range(50 * n + 100):
        if s.done:
            break
        for _worker, tasks in s.hand_out(["w1", "w2"], size=rng.randint(1, 4), policy=policy):
            out.extend(tasks)
        event = rng.random()
        if out and event < 0.5:
            j = out.pop(rng.randrange(len(out)))
            if s.status[j] != EXECUTING:
                continue  # left for the front meanwhile (the chain rule)
            kind = rng.random()
            if kind < 0.7:
                s.finish(j)
                s.release(j)
            elif kind < 0.85:
                if j:  # an ESTIMATE is always an earlier transaction's
                    s.suspend(j, rng.randrange(j))
                else:
                    s.lose(j)
            elif kind < 0.95:
                s.leave_for_front(j)
            else:
                s.lose(j)
        elif event < 0.7:
            done = [k for k in range(s.front, n) if s.status[k] == EXECUTED]
            if done:
                s.abort(rng.choice(done))
        else:
            j = s.front
            if s.status[j] != EXECUTING:
                s.commit(j, accepted=s.status[j] == EXECUTED)
        _check_invariants(s)
    # the front finishes what is left, as the engine does once workers are done
    while not s.done:
        j = s.front
        if s.status[j] == EXECUTING:
            s.finish(j)
        s.commit(j, accepted=False)
        _check_invariants(s)
    assert set(s.status) == {COMMITTED}


def _check_invariants(s: Schedule) -> None:
    queued = {j for _, j in s.ready}
    for j, state in enumerate(s.status):
        assert isinstance(state, TxState)
        assert (state == COMMITTED) == (j < s.front), (j, state, s.front)
        if state == READY and j > s.front:  # the front's own is the front's to execute
            assert j in queued, j
        if state == WAITING:
            assert s.pending[j], j
        if state == SUSPENDED:
            assert any(j in blocked for blocked in s.waiting.values()), j
        assert s.incarnation[j] <= MAX_INCARNATIONS
