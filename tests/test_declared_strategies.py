"""Declared-access strategies (account-locks, slot-locks, dag) equal serial with
exact, missing, extra and random wrong hints, and count what they did."""

from __future__ import annotations

import random

import pytest

from parexec.access.footprint import Footprint
from parexec.block.pipeline import execute_block
from parexec.model import STORAGE
from parexec.strategies import DECLARED, get_strategy
from parexec.workloads import build_workload

FIELDS = ("receipts", "gas_used", "logs_bloom", "receipts_root", "state_diff", "new_code", "state_root")


class FixedHints:
    def __init__(self, footprints):
        self.footprints = footprints

    def footprints_for(self, block):
        return self.footprints


def _serial(spec):
    block, pre = build_workload(spec)
    return block, pre, execute_block(block, pre, get_strategy("serial"), 1)


def _assert_equal(outcome, serial):
    for name in FIELDS:
        assert getattr(outcome, name) == getattr(serial, name), name


def _exact(serial):
    return [Footprint.of_result(r) for r in serial.tx_results]


def _without_storage(footprints):
    return [Footprint(frozenset(l for l in f.reads if l[0] != STORAGE),
                      frozenset(l for l in f.writes if l[0] != STORAGE)) for f in footprints]


def _with_extra(footprints, loc):
    return [Footprint(f.reads | {loc}, f.writes | {loc}) for f in footprints]


def _shuffled(footprints, seed):
    """Each transaction keeps a random half of its footprint and borrows another's."""
    rng = random.Random(seed)
    out = []
    for f in footprints:
        other = rng.choice(footprints)
        keep_r = frozenset(l for l in f.reads if rng.random() < 0.5)
        keep_w = frozenset(l for l in f.writes if rng.random() < 0.5)
        out.append(Footprint(keep_r | other.reads, keep_w | other.writes))
    return out


@pytest.mark.parametrize("name", DECLARED)
@pytest.mark.parametrize("spec", ["erc20:txs=40,hot=0.3", "chain:txs=24", "transfers:txs=30,hot=0.5"])
def test_exact_hints_equal_serial_without_mispredictions(name, spec):
    block, pre, serial = _serial(spec)
    outcome = execute_block(block, pre, get_strategy(name, hints=FixedHints(_exact(serial))), 2)
    _assert_equal(outcome, serial)
    assert outcome.stats.hints == "access list"
    assert outcome.stats.mispredictions == 0


@pytest.mark.parametrize("name", DECLARED)
def test_missing_hints_are_mispredictions_repaired_to_serial(name):
    block, pre, serial = _serial("erc20:txs=40,hot=0.3")
    hints = FixedHints(_without_storage(_exact(serial)))
    outcome = execute_block(block, pre, get_strategy(name, hints=hints), 2)
    _assert_equal(outcome, serial)
    assert outcome.stats.mispredictions > 0


@pytest.mark.parametrize("name", DECLARED)
def test_extra_hints_only_add_waits(name):
    block, pre, serial = _serial("erc20:txs=40")
    hot = (STORAGE, block.transactions[0].to, 12345)
    exact = execute_block(block, pre, get_strategy(name, hints=FixedHints(_exact(serial))), 2)
    extra = execute_block(block, pre, get_strategy(name, hints=FixedHints(_with_extra(_exact(serial), hot))), 2)
    _assert_equal(extra, serial)
    if name == "account-locks":  # every transfer already waits for the token's lock
        assert extra.stats.lock_waits == exact.stats.lock_waits == 39
    else:  # per slot the shared extra slot is what makes them wait
        assert extra.stats.lock_waits > exact.stats.lock_waits
    assert extra.stats.mispredictions == 0


@pytest.mark.parametrize("name", DECLARED)
@pytest.mark.parametrize("seed", range(3))
def test_random_wrong_hints_still_equal_serial(name, seed):
    block, pre, serial = _serial("erc20:txs=40,hot=0.3")
    hints = FixedHints(_shuffled(_exact(serial), seed))
    _assert_equal(execute_block(block, pre, get_strategy(name, hints=hints), 3), serial)


def test_slot_locks_remove_the_false_conflicts_of_account_locks():
    """One token, distinct holders: every transfer writes the token account, but
    no two write the same slot."""
    block, pre, serial = _serial("erc20:txs=40")
    hints = FixedHints(_exact(serial))
    account = execute_block(block, pre, get_strategy("account-locks", hints=hints), 2)
    slot = execute_block(block, pre, get_strategy("slot-locks", hints=hints), 2)
    assert account.stats.lock_waits == 39  # all but the first wait for the token lock
    assert slot.stats.lock_waits == 0


def test_hints_of_the_wrong_length_are_refused_clearly():
    block, pre, serial = _serial("erc20:txs=12")
    hints = FixedHints(_exact(serial)[:-1])
    with pytest.raises(ValueError, match="11 footprints for a block of 12 transactions"):
        execute_block(block, pre, get_strategy("dag", hints=hints, min_parallel_txs=2), 2)


def test_declared_chunks_are_cut_by_gas_and_queued_two_deep(monkeypatch):
    """What a declared strategy hands a worker cannot go stale, so a worker holds
    a second chunk; chunks stay within the gas budget (or hold one transaction)."""
    from parexec.parallel.worker_pool import WorkerPool
    from parexec.parallel.chunks import DECLARED_CHUNKS

    block, pre, serial = _serial("erc20:txs=200")
    sent = []
    submit = WorkerPool.submit

    def spy(pool, worker, tasks, chain):
        sent.append((len(worker.requests), [block.transactions[j].gas for j in tasks]))
        return submit(pool, worker, tasks, chain)

    monkeypatch.setattr(WorkerPool, "submit", spy)
    outcome = execute_block(block, pre, get_strategy("dag", hints=FixedHints(_exact(serial))), 2)
    _assert_equal(outcome, serial)
    assert sent and all(len(gas) == 1 or sum(gas) <= DECLARED_CHUNKS.gas for _, gas in sent)
    assert any(len(gas) > 1 for _, gas in sent)  # cheap ones still go together
    assert any(held == 1 for held, _ in sent)  # a worker was given a second chunk


# ------------------------------------------------------------------ when the plan runs serially


def test_a_plan_runs_serially_when_its_estimated_time_is_serials():
    """mostly_serial weighs the longest chain (with its waits) against the work
    shared by the processes, not the count of transactions that wait."""
    from parexec.strategies.declared import mostly_serial, pre_execution_loses

    n, gas = 40, [50_000] * 40
    chain = [set()] + [{j - 1} for j in range(1, n)]
    four_chains = [{j - 4} if j >= 4 else set() for j in range(n)]
    all_on_first = [set()] + [{0} for _ in range(1, n)]  # every one waits, none for long
    assert mostly_serial(chain, gas, 2) and mostly_serial(chain, gas, 32)
    assert not mostly_serial(four_chains, gas, 2) and not mostly_serial(all_on_first, gas, 2)
    # a chain whose front is kept from pre-execution: what is left still is one
    assert mostly_serial(chain, gas, 2, done=frozenset(range(10)))
    assert not mostly_serial(chain[:8], gas[:8], 2)  # too small to bother
    # pre-execution whose results are all stale pays at 8 processes, not at 2
    assert pre_execution_loses([False] + [True] * (n - 1), all_on_first, gas, 2)
    assert not pre_execution_loses([False] + [True] * (n - 1), all_on_first, gas, 8)
    assert not pre_execution_loses([False] * n, [set()] * n, gas, 2)
