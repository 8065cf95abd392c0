"""Faults in the worker pool: every block still completes exactly as serial does.

* A worker that hangs (SIGSTOP in the middle of a transaction) is found by the
  pool's timeout, killed and replaced, with every parallel strategy.
* Workers killed or stopped from outside at random moments, on a synthetic and a
  mainnet block, across strategies (a seeded, bounded loop).
* A worker killed, or hung, while occ's coordinator waits for the transaction it
  is executing (the claim path).
* A worker that is slow but moving (many short transactions in one run) is left alone.
* A worker stopped while idle does not block the next pre-state's send, nor the
  pool's readiness check; workers end with a coordinator killed outright.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

import parexec.parallel.worker as worker_module
import parexec.strategies.occ as occ_module
from conftest import MAINNET, require_data
from parexec.access.eip7928_builder import build_access_list
from parexec.block.pipeline import execute_block
from parexec.fixtures.targets import load_targets
from parexec.parallel import worker_pool
from parexec.parallel.worker_pool import WorkerPool, get_pool
from parexec.strategies import get_strategy
from test_worker_pool import _collect_until_idle, _start, fresh_pool, time_limit  # noqa: F401 (a fixture)

HANG = 1.5  # the pool's timeout in these tests, seconds (well above a slow core's pause)
PARALLEL = ["occ", "block-stm", "dag", "account-locks", "slot-locks", "bal"]
SPEC = "erc20:txs=120,hot=0.2"


class OneList:
    """Hints holding one block's EIP-7928 list (for bal)."""

    def __init__(self, access_list):
        self.access_list = access_list

    def eip7928_for(self, block):
        return self.access_list


def strategy(name: str, target):
    """``name`` as these tests run it: declared-access strategies predict their
    footprints (without, they run occ), bal gets the block's exact list."""
    if name == "bal":
        return get_strategy("bal", hints=OneList(build_access_list(target.block, target.pre_state)))
    return get_strategy(name, predict=True)


def run(target, name: str, workers: int = 3):
    return execute_block(target.block, target.pre_state, strategy(name, target), workers)


def serial(target):
    return execute_block(target.block, target.pre_state, get_strategy("serial"), 1)


def assert_exact(outcome, reference):
    assert reference.first_difference(outcome) is None, reference.first_difference(outcome)
    assert [(r.writes, r.gas_used, r.success, r.logs) for r in outcome.tx_results] == [
        (r.writes, r.gas_used, r.success, r.logs) for r in reference.tx_results]


def _stop_self_in(tx: int | None, sig=signal.SIGSTOP):
    """An execute_transaction for workers forked under it: a worker process sends
    itself ``sig`` on transaction ``tx`` (None: on its first), in the middle of the
    execution, so the shared memory shows it running that transaction."""
    coordinator = os.getpid()
    real = worker_module.execute_transaction

    def execute(env, view, transaction, j, *args, **kwargs):
        if os.getpid() != coordinator and (tx is None or j == tx):
            os.kill(os.getpid(), sig)
        return real(env, view, transaction, j, *args, **kwargs)

    return execute


def _doomed_pool(monkeypatch, execute, normal: int = 1, timeout: float = HANG) -> WorkerPool:
    """The pool with ``normal`` ordinary workers and one forked while
    ``execute`` replaces execute_transaction; replacements are ordinary."""
    get_pool(normal)
    with monkeypatch.context() as patch:
        patch.setattr(worker_module, "execute_transaction", execute)
        pool = get_pool(normal + 1)
    monkeypatch.setattr(pool, "timeout", timeout)
    return pool


# ------------------------------------------------------------------ hung workers


@pytest.mark.parametrize("name", PARALLEL)
def test_a_worker_stopped_mid_transaction_is_replaced(name, fresh_pool, monkeypatch):
    """One of two workers SIGSTOPs itself in its first transaction and never
    replies: the pool finds it silent past its timeout, kills it, and its tasks
    are executed elsewhere; the block equals serial's."""
    target = load_targets([SPEC])[0]
    reference = serial(target)
    pool = _doomed_pool(monkeypatch, _stop_self_in(None))
    doomed = pool.workers[-1].process
    before = (pool.replaced, pool.hung)
    with time_limit(60):
        outcome = run(target, name)
    assert (pool.replaced - before[0], pool.hung - before[1]) == (1, 1)
    assert not doomed.is_alive() and doomed not in [w.process for w in pool.workers]
    assert outcome.stats.mode == "parallel"
    assert_exact(outcome, reference)
    if name in ("occ", "block-stm", "bal"):  # one open_block per run: its counters are the block's
        assert (outcome.stats.workers_replaced, outcome.stats.workers_hung) == (1, 1)
        assert outcome.stats.counters()["workers_hung"] == 1
    assert_exact(run(target, name), reference)  # the replacement serves the next block


@pytest.mark.parametrize("listed", ["exact", "extra read"])
def test_bal_keeps_what_a_dead_workers_replies_said_it_accessed(listed, fresh_pool, monkeypatch):
    """A worker's results are in, then it dies: what they accessed came with
    them, so the block is still held to the list
    exactly, serial's with the exact list, and a list holding what nothing
    accesses is still rejected."""
    from list_helpers import perturbed
    from parexec.model import BlockRejected

    target = load_targets([SPEC])[0]
    exact = build_access_list(target.block, target.pre_state)
    killed = []
    collect = WorkerPool.collect

    def collect_then_kill(self, timeout=0):
        got, orphaned = collect(self, timeout)
        if not killed and got:  # its results are in; the rest of its work comes back orphaned
            worker = got[0].worker
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join(timeout=10)
            killed.append(worker)
        return got, orphaned

    monkeypatch.setattr(WorkerPool, "collect", collect_then_kill)
    pool = get_pool(2)
    before = pool.replaced
    bal = get_strategy("bal", hints=OneList(exact if listed == "exact" else perturbed(exact, listed, 5)))
    with time_limit(60):
        if listed == "exact":
            outcome = execute_block(target.block, target.pre_state, bal, 3)
            assert_exact(outcome, serial(target))
            assert any(r.reads is None for r in outcome.tx_results)  # the workers' results, sent without reads
        else:
            with pytest.raises(BlockRejected, match="which nothing in the block accesses"):
                execute_block(target.block, target.pre_state, bal, 3)
    assert len(killed) == 1 and pool.replaced - before == 1


def test_the_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(worker_pool.TIMEOUT_ENV, "2.5")
    assert WorkerPool().timeout == 2.5 and WorkerPool(timeout=7).timeout == 7
    monkeypatch.delenv(worker_pool.TIMEOUT_ENV)
    assert WorkerPool().timeout == worker_pool.WORKER_TIMEOUT


def test_a_test_blocks_huge_gas_limit_gives_a_bounded_patience():
    """ethereum/tests carry gas limits up to 2**63: the patience stays within what
    poll() takes (it once raised OverflowError: timeout is too large)."""
    from types import SimpleNamespace

    pool = WorkerPool(timeout=1.0)
    pool.block = SimpleNamespace(transactions=[SimpleNamespace(gas=2**63 - 1)])
    worker = SimpleNamespace(progress=[0], requests=[[0]])
    allowed = pool._allowed(worker)
    assert allowed == 1.0 + worker_pool.MAX_GAS_SECONDS and allowed * 1000 < worker_pool.MAX_POLL_MS


def _slow(seconds: float):
    """An execute_transaction for workers forked under it: each execution takes
    ``seconds`` longer."""
    real = worker_module.execute_transaction

    def execute(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    return execute


def test_a_slow_worker_that_moves_is_not_hung(fresh_pool, monkeypatch):
    """Patience runs per transaction, not per run: one run of 40 transactions that
    takes four times the timeout, each a tenth of it, is no hang."""
    target = load_targets(["erc20:txs=40"])[0]
    timeout = 0.5
    pool = _doomed_pool(monkeypatch, _slow(timeout / 10), normal=0, timeout=timeout)
    monkeypatch.setattr(worker_pool, "GAS_PER_SECOND", 10**12)  # no allowance for gas
    _start(pool, target.block, target.pre_state)
    worker = pool.workers[0]
    before = pool.hung
    started = time.monotonic()
    pool.submit(worker, list(range(40)), chain=False)
    outcomes = _collect_until_idle(pool, worker)  # fails on an orphaned task
    assert time.monotonic() - started > 3 * timeout  # it did outlast the timeout
    assert sorted(o.tx for o in outcomes) == list(range(40))
    assert pool.hung == before and pool.workers[0] is worker
    pool.drain()


def test_a_worker_stopped_between_blocks_does_not_block_the_next_pre_state(fresh_pool, monkeypatch):
    """A worker stopped while idle no longer reads its pipe: the next block's
    pre-state (390 kB pickled, more than the pipe holds) once blocked the
    coordinator's send forever. The send gives up after the timeout and the
    worker is replaced."""
    require_data(MAINNET)
    small = load_targets(["erc20:txs=40"])[0]
    block = load_targets([str(MAINNET / "blocks" / "8889776")])[0]
    pool = get_pool(2)
    monkeypatch.setattr(pool, "timeout", HANG)
    run(small, "occ")
    stopped = pool.workers[0].process
    os.kill(stopped.pid, signal.SIGSTOP)
    before = (pool.replaced, pool.hung)
    with time_limit(30):
        outcome = run(block, "occ")
    assert (pool.replaced - before[0], pool.hung - before[1]) == (1, 1)
    assert not stopped.is_alive()
    assert_exact(outcome, serial(block))


def test_a_stopped_worker_is_replaced_when_the_pool_is_readied(fresh_pool, monkeypatch):
    """wait_ready (bench and replay start their clocks after it) replaces a worker
    that does not answer its ping."""
    pool = get_pool(2)
    monkeypatch.setattr(pool, "timeout", 0.2)
    monkeypatch.setattr(worker_pool, "READY_TIMEOUT", 0.5)
    stopped = pool.workers[1].process
    os.kill(stopped.pid, signal.SIGSTOP)
    before = pool.hung
    with time_limit(30):
        pool.wait_ready()
    assert pool.hung - before == 1 and not stopped.is_alive()
    assert all(w.process.is_alive() for w in pool.workers)
    dead = pool.workers[0].process  # one found dead is replaced, and its replacement pinged
    os.kill(dead.pid, signal.SIGKILL)
    dead.join(timeout=10)
    before = (pool.replaced, pool.hung)
    with time_limit(30):
        pool.wait_ready()
    assert (pool.replaced - before[0], pool.hung - before[1]) == (1, 0)
    assert all(w.process.is_alive() for w in pool.workers)


def test_workers_end_with_a_coordinator_killed_outright():
    """A coordinator SIGKILLed leaves no worker behind: each inherited its pipe's
    other end, so it never saw the pipe close, and lived on holding whatever the
    coordinator held (a Ray worker's sockets: Ray then never saw its task end)."""
    code = ("from parexec.parallel.worker_pool import get_pool; import time; pool = get_pool(2); "
            "pool.wait_ready(); print(*[w.process.pid for w in pool.workers], flush=True); time.sleep(60)")
    coordinator = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in coordinator.stdout.readline().split()]
    finally:
        coordinator.kill()
        coordinator.wait()
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie is reaped by init)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------ occ's claim


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_a_worker_lost_while_occ_waits_for_its_transaction(fault, fresh_pool, monkeypatch):
    """A worker stops itself in the block's last transaction (occ hands the back of
    the block to workers first), so the coordinator's front reaches it running
    there and waits for it (the claim path). Then it is SIGKILLed (found on its
    pipe at once, the timeout far away) or left hung (found by the timeout); either
    way the coordinator executes that transaction itself."""
    target = load_targets([SPEC])[0]
    reference = serial(target)
    last = len(target.block.transactions) - 1
    pool = _doomed_pool(monkeypatch, _stop_self_in(last), normal=0, timeout=60 if fault == "killed" else HANG)
    waited = []
    claim = occ_module._Run._claim

    def watched_claim(self, j):
        worker = self.owner[j]
        if self.pool.running(worker) == j:  # the coordinator is about to wait for it
            waited.append(j)
            if fault == "killed":
                os.kill(worker.process.pid, signal.SIGKILL)
        claim(self, j)

    monkeypatch.setattr(occ_module._Run, "_claim", watched_claim)
    before = (pool.replaced, pool.hung)
    with time_limit(30):
        outcome = run(target, "occ", workers=2)
    assert waited == [last]
    assert (pool.replaced - before[0], pool.hung - before[1]) == (1, 0 if fault == "killed" else 1)
    assert_exact(outcome, reference)


# ------------------------------------------------------------------ random faults


def _strike(pool: WorkerPool, delay: float, sig: int, hit: list) -> threading.Thread:
    """After ``delay`` seconds, send ``sig`` to a worker that holds tasks (or any
    worker, if none does), from another thread, as an outside fault would come."""

    def strike():
        time.sleep(delay)
        busy = [w for w in list(pool.workers) if w.requests] or list(pool.workers)
        victim = random.Random(delay).choice(busy).process.pid
        try:
            os.kill(victim, sig)
        except ProcessLookupError:
            return
        hit.append(victim)

    thread = threading.Thread(target=strike, daemon=True)
    thread.start()
    return thread


def test_workers_killed_or_stopped_at_random_moments(fresh_pool, monkeypatch):
    """Twelve runs, each with a SIGKILL or SIGSTOP at a random moment into the
    block (within serial's time for it: mostly during the parallel run, sometimes
    after; PAREXEC_FAULT_SEED picks other moments), on a synthetic block of random size and a mainnet
    block, with a random strategy: every outcome equals serial's, and the struck
    worker is replaced by the end of the next block."""
    require_data(MAINNET)
    rng = random.Random(int(os.environ.get("PAREXEC_FAULT_SEED", "18")))
    mainnet = load_targets([str(MAINNET / "blocks" / "8889776")])[0]
    synthetic = {n: load_targets([f"erc20:txs={n},hot=0.2"])[0] for n in (40, 120, 200)}
    references, seconds = {}, {}  # serial's outcome and time, by target
    pool = get_pool(2)
    monkeypatch.setattr(pool, "timeout", HANG)
    struck = mid_block = 0
    for _ in range(12):
        target = mainnet if rng.random() < 0.4 else synthetic[rng.choice(sorted(synthetic))]
        name = rng.choice(PARALLEL)
        sig = rng.choice([signal.SIGKILL, signal.SIGSTOP])
        if target.name not in references:
            started = time.perf_counter()
            references[target.name] = serial(target)
            seconds[target.name] = time.perf_counter() - started
        hit: list = []
        replaced = pool.replaced
        thread = _strike(pool, rng.uniform(0.0, 0.8) * seconds[target.name], sig, hit)
        with time_limit(60):
            outcome = run(target, name)
            thread.join()
        assert_exact(outcome, references[target.name])
        mid_block += pool.replaced > replaced
        if hit:  # a fault that came after the block's work is found in the next block's
            struck += 1
            with time_limit(60):
                assert_exact(run(target, name), references[target.name])
            assert hit[0] not in [w.process.pid for w in pool.workers], (name, target.name, sig)
    assert struck >= 8 and mid_block >= 3, (struck, mid_block)
