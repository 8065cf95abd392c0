"""The many-core simulation on hand-built blocks whose best schedules are known."""

from __future__ import annotations

import random
import statistics
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parexec.access.footprint import Footprint
from parexec.analysis.block_profile import BlockProfile, TxProfile
from parexec.analysis.dependency_graph import DependencyGraph
from parexec.analysis.simulator import (
    MODEL_TOLERANCE,
    Overheads,
    beyond_tolerance,
    prediction_errors,
    simulate,
    simulated_strategies,
)
from parexec.model import BALANCE_DELTA, BALANCE_FLOOR, EXISTS, NONCE, STORAGE

TOKEN = b"\x70" * 20
PARALLEL = [s for s in simulated_strategies() if s != "serial"]


def block(footprints, seconds, rest=0.0):
    txs = [TxProfile(j, 21000, s, fp) for j, (fp, s) in enumerate(zip(footprints, seconds))]
    return BlockProfile("hand-built", txs, rest + sum(seconds))


def own_slot(j):
    loc = (STORAGE, TOKEN, j)
    return Footprint(frozenset({loc}), frozenset({loc}))


def own_account(j):
    loc = (STORAGE, j.to_bytes(20, "big"), 0)
    return Footprint(frozenset({loc}), frozenset({loc}))


HOT = Footprint(frozenset({(STORAGE, TOKEN, 999)}), frozenset({(STORAGE, TOKEN, 999)}))


@pytest.mark.parametrize("strategy", PARALLEL)
def test_independent_equal_transactions_scale_with_workers(strategy):
    profile = block([own_account(j + 1) for j in range(64)], [1.0] * 64)
    speedups = [simulate(profile, strategy, workers, Overheads()) for workers in (2, 4, 8, 16)]
    assert speedups == sorted(speedups), (strategy, speedups)
    for workers, speedup in zip((2, 4, 8, 16), speedups):
        # not quite N: a worker's chunk result waits while the coordinator executes one itself
        assert workers * 0.7 <= speedup <= workers + 1e-9, (strategy, workers, speedup)


@pytest.mark.parametrize("strategy", [s for s in PARALLEL if s != "bal"])
def test_a_chain_gains_nothing_and_overheads_make_it_lose(strategy):
    profile = block([HOT] * 20, [1.0] * 20)
    # (block-stm wastes a little: runs that meet an ESTIMATE, and aborts until the
    # chain rule hands the block to the front)
    assert 0.85 <= simulate(profile, strategy, 8, Overheads()) <= 1.0 + 1e-9
    assert simulate(profile, strategy, 8, Overheads(commit=0.05)) < 1.0


def test_with_a_list_a_chain_runs_at_once_until_the_check_costs_more():
    profile = block([HOT] * 64, [1.0] * 64)  # every transaction depends on the one before
    free = [simulate(profile, "bal", w, Overheads()) for w in (2, 8, 32)]
    assert free == sorted(free) and free[1] >= 4.0, free  # a list's values: nobody waits
    assert simulate(profile, "bal", 8, Overheads(commit=0.5)) < free[1] / 2  # the check is serial


def test_more_work_outside_transactions_caps_the_speedup():
    profile = block([own_slot(j) for j in range(64)], [1.0] * 64, rest=64.0)
    assert simulate(profile, "dag", 64, Overheads()) <= 2.0 + 1e-9  # Amdahl: half the block is serial


@pytest.mark.parametrize("seed", range(5))
def test_no_strategy_beats_the_workers_or_the_critical_path(seed):
    """...or, for bal, whose list makes every transaction independent, the longest transaction."""
    rng = random.Random(seed)
    footprints = [HOT if rng.random() < 0.3 else own_slot(j) for j in range(40)]
    seconds = [rng.uniform(0.5, 3.0) for _ in range(40)]
    profile = block(footprints, seconds)
    length, _ = DependencyGraph.of(footprints).critical_path(seconds)
    for strategy in PARALLEL:
        bound = sum(seconds) / (max(seconds) if strategy == "bal" else length)
        for workers in (2, 8, 32):
            speedup = simulate(profile, strategy, workers, Overheads(commit=0.01, ipc=0.02, contention=0.1))
            assert 0 < speedup <= min(workers, bound) + 1e-9, (strategy, workers)


def test_account_locks_serialize_one_token_that_slot_locks_do_not():
    profile = block([own_slot(j) for j in range(32)], [1.0] * 32)
    assert simulate(profile, "slot-locks", 4, Overheads()) > 3.5
    assert simulate(profile, "account-locks", 4, Overheads()) == pytest.approx(1.0)


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="cannot simulate"):
        simulate(block([HOT], [1.0]), "nonsense", 2, Overheads())


def test_fitted_commit_cost_makes_the_median_prediction_match():
    from parexec.calibration import fit_commit

    profiles = [block([own_account(j + 1) for j in range(32)], [1.0] * 32) for _ in range(3)]
    target = simulate(profiles[0], "dag", 2, Overheads(commit=0.002))  # what a cost of 2 ms gives
    commit = fit_commit(profiles, [target] * 3, "dag", 2, Overheads())
    assert commit == pytest.approx(0.002, rel=0.01)
    # an engine faster than the free-coordination model: no cost can explain it, 0 is the fit
    assert fit_commit(profiles, [10.0] * 3, "dag", 2, Overheads()) == 0.0


@pytest.mark.parametrize("strategy", ["occ", "dag", "bal"])
def test_the_coordinators_cost_and_the_executions_are_told_apart(strategy):
    """Speedups alone cannot tell a cost on the coordinator from a cost on every
    execution: fitted to them alone, all of it lands on the coordinator, which
    then executes fewer transactions than it did. Fitted to how many it executed
    as well, both the speedups and those counts come out as measured."""
    from parexec.analysis.simulator import simulate_run
    from parexec.calibration import fit_commit, fit_costs

    rng = random.Random(7)
    profiles = [block([own_account(j + 1) for j in range(n)], [rng.uniform(0.5e-3, 1.5e-3) for _ in range(n)])
                for n in (200, 300, 400)]
    made = [simulate_run(p, strategy, 2, Overheads(commit=3e-5, execution=2e-4)) for p in profiles]
    speedups, here = [r.speedup for r in made], [r.coordinator_executions for r in made]
    commit, execution = fit_costs(profiles, speedups, here, strategy, 2, Overheads())
    refit = [simulate_run(p, strategy, 2, Overheads(commit=commit, execution=execution)) for p in profiles]
    assert [r.speedup for r in refit] == pytest.approx(speedups, rel=0.02)
    assert [r.coordinator_executions for r in refit] == pytest.approx(here, rel=0.03)
    assert execution > 1e-4, (commit, execution)
    alone = Overheads(commit=fit_commit(profiles, speedups, strategy, 2, Overheads()))
    assert alone.commit > commit
    assert sum(simulate_run(p, strategy, 2, alone).coordinator_executions for p in profiles) < 0.97 * sum(here)


def test_a_coordinator_cost_timed_in_the_engine_is_kept_and_the_execution_cost_fitted():
    from parexec.analysis.simulator import simulate_run
    from parexec.calibration import fit_costs

    rng = random.Random(3)
    profiles = [block([own_account(j + 1) for j in range(n)], [rng.uniform(0.5e-3, 1.5e-3) for _ in range(n)])
                for n in (200, 300, 400)]
    made = [simulate_run(p, "bal", 2, Overheads(commit=3e-5, execution=2e-4)) for p in profiles]
    speedups, here = [r.speedup for r in made], [r.coordinator_executions for r in made]
    commit, execution = fit_costs(profiles, speedups, here, "bal", 2, Overheads(), commit=3e-5)
    assert commit == 3e-5 and execution == pytest.approx(2e-4, rel=0.02)
    # a timed cost that explains more than the speedups leave: nothing per execution
    assert fit_costs(profiles, speedups, here, "bal", 2, Overheads(), commit=1e-3) == (1e-3, 0.0)


def test_bals_coordinator_time_adds_up_in_the_engine():
    """parallel.coordinator_time, as the calibration reads it: a record per bal
    run, whose parts come from the engine's own clock and leave a cost per
    result taken in that is positive, and small next to an execution."""
    from parexec.analysis.block_profile import profile_block
    from parexec.block.pipeline import execute_block
    from parexec.calibration import ExactHints, coordinator_costs
    from parexec.fixtures.targets import fresh_block, load_targets
    from parexec.parallel import coordinator_time
    from parexec.strategies.bal import BalStrategy

    target = load_targets(["erc20:txs=60"])[0]
    bal = BalStrategy(hints=ExactHints([target], [profile_block(target, repeat=1)]))
    assert coordinator_time.active() is None  # off: nothing is timed
    with coordinator_time.recording() as runs:
        for workers in (2, 1):
            execute_block(fresh_block(target.block), target.pre_state, bal, workers, with_state_root=False)
    pooled, alone = runs
    assert pooled.txs == alone.txs == 60 and alone.worker_results == 0
    assert 0 < pooled.worker_results < 60 and pooled.wait >= 0
    assert min(pooled.start, pooled.prepare, pooled.own, pooled.finish) > 0
    assert pooled.own < pooled.total and 0 < pooled.taking_in < pooled.total and 0 < alone.commit < alone.own
    costs = coordinator_costs(runs)
    assert costs["commit"] == pooled.taking_in / pooled.worker_results and costs["settle"] == pooled.finish / 60
    # the chunks (and any claims) it wrote to its worker: the model charges them apart
    assert pooled.messages >= -(-pooled.worker_results // 16) and alone.messages == 0
    send = pooled.taking_in / pooled.messages / 4
    assert coordinator_costs(runs, send)["commit"] == \
        pytest.approx((pooled.taking_in - pooled.messages * send) / pooled.worker_results)
    assert costs["commit_in_order"] == pooled.commit / 60 > 0
    assert costs["commit"] < pooled.own / (60 - pooled.worker_results)  # less than one of its own executions
    assert coordinator_costs([alone]) is None


def test_cli_simulate_with_a_saved_calibration(tmp_path):
    import json

    from click.testing import CliRunner

    from parexec.calibration import Calibration, save
    from parexec.cli import main

    cal = tmp_path / "cal.json"
    save(cal, Calibration(Overheads(ipc=1e-4, start=1e-3, contention=0.1), {s: 5e-5 for s in PARALLEL}), {})
    out = tmp_path / "sim.json"
    result = CliRunner().invoke(main, ["simulate", "erc20:txs=40", "chain:txs=20", "--workers", "1,2,8",
                                       "--strategies", "dag,occ", "--repeat", "1",
                                       "--calibration", str(cal), "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert len(rows) == 2 * 2 * 3
    for r in rows:
        assert {"target", "strategy", "workers", "predicted_speedup"} <= set(r)
        assert r["predicted_speedup"] <= min(r["workers"], r["bound_critical_path"]) + 1e-9
    # measured times vary from run to run: compare the blocks, not absolute figures
    at8 = {(r["target"], r["strategy"]): r["predicted_speedup"] for r in rows if r["workers"] == 8}
    for strategy in ("dag", "occ"):
        assert at8[("chain:txs=20", strategy)] <= 1.05
        assert at8[("erc20:txs=40", strategy)] > 1.5 * at8[("chain:txs=20", strategy)]


def test_cli_simulate_refuses_a_broken_calibration_file(tmp_path):
    from click.testing import CliRunner

    from parexec.cli import main

    cal = tmp_path / "cal.json"
    cal.write_text("{}")
    result = CliRunner().invoke(main, ["simulate", "erc20:txs=10", "--calibration", str(cal)])
    assert result.exit_code == 2 and "not a parexec calibration" in result.output


def test_a_calibration_from_an_older_parexec_is_measured_anew(tmp_path, monkeypatch):
    """One that lacks an overhead the models use now (its fitted costs went with
    the older models) is not used as it is."""
    import json

    import parexec.calibration as calibration
    from parexec.calibration import Calibration, StaleCalibration, load, load_or_calibrate, save

    cal = tmp_path / "cal.json"
    measured = {"occ": {"erc20:txs=1000": {"speedup": 1.7, "coordinator_executions": 480}}}
    save(cal, Calibration(Overheads(ipc=1e-4), {"occ": 5e-5}, {"occ": 2e-5}, measured), {})
    assert load(cal).commits == {"occ": 5e-5} and load(cal).measured == measured
    assert load(cal).overheads("occ") == Overheads(ipc=1e-4, commit=5e-5, execution=2e-5)
    data = json.loads(cal.read_text())
    del data["overheads"]["settle"]
    cal.write_text(json.dumps(data))
    with pytest.raises(StaleCalibration, match="no settle"):
        load(cal)
    data["overheads"]["list_enter"] = 5e-5  # one the models no longer use (a calibration before 0.1.0's last)
    cal.write_text(json.dumps(data))
    with pytest.raises(StaleCalibration, match="list_enter no longer used"):
        load(cal)
    del data["overheads"]["list_enter"]
    data["overheads"]["settle"] = 1e-6
    data.pop("version")  # before bal's coordinator costs were timed in its engine
    cal.write_text(json.dumps(data))
    with pytest.raises(StaleCalibration, match="format 1, not 6"):
        load(cal)
    data["version"] = 5  # before a block's start left out the round trip the models charge anyway
    cal.write_text(json.dumps(data))
    with pytest.raises(StaleCalibration, match="format 5, not 6"):
        load(cal)

    def measuring(*_args, **_kwargs):  # it would measure now (a few minutes): stop it there
        raise RuntimeError("measuring")

    monkeypatch.setattr(calibration, "calibrate", measuring)
    said = []
    with pytest.raises(RuntimeError, match="measuring"):
        load_or_calibrate(cal, ["occ"], say=said.append)
    assert "older parexec" in said[0]


def test_entering_costs_fitted_none_below_zero():
    """The entering costs per account, location and change, fitted over timed
    accounts: recovered exactly where the times lie on a plane; never below zero
    (the closest fit without the column that would go negative)."""
    from parexec.calibration import fit_nonnegative

    rows = [(1.0, loc, ch) for loc, ch in [(2, 2), (2, 2), (1, 1000), (2000, 2000), (2, 400), (4, 4)]]
    times = [3.0 + 2.5 * loc + 1.0 * ch for _, loc, ch in rows]
    assert fit_nonnegative(rows, times) == pytest.approx((3.0, 2.5, 1.0))
    falling = [(1.0, x, x) for x in (0, 10)]
    assert fit_nonnegative(falling, [5.0, 1.0]) == pytest.approx((3.0, 0.0, 0.0))  # never falling with the size
    through_origin = fit_nonnegative([(1.0, 1, 1), (1.0, 2, 2)], [0.1, 1.0])
    assert through_origin[0] == 0.0 and min(through_origin) >= 0
    assert fit_nonnegative([(1.0, 4, 4), (1.0, 4, 4)], [1.0, 3.0]) == pytest.approx((2.0, 0.0, 0.0))
    assert fit_nonnegative([(1.0, 1, 1)], [-1.0]) == (0.0, 0.0, 0.0)  # nothing fits above zero: no cost


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 3000), st.floats(-1e-3, 1e-2)), min_size=1, max_size=30))
def test_a_nonnegative_fit_is_never_below_zero_nor_worse_than_a_constant(points):
    """Whatever the times, no cost comes out below zero, and the fit is at least as
    close as the best constant alone (or nothing) would be."""
    from parexec.calibration import fit_nonnegative

    rows = [(1.0, float(loc), float(ch)) for loc, ch, _ in points]
    ys = [y for _, _, y in points]
    fitted = fit_nonnegative(rows, ys)
    assert len(fitted) == 3 and min(fitted) >= 0

    def error(c):
        return sum((y - sum(a * x for a, x in zip(c, row))) ** 2 for row, y in zip(rows, ys))

    constant = max(0.0, sum(ys) / len(ys))
    assert error(fitted) <= error((constant, 0.0, 0.0)) * (1 + 1e-9) + 1e-18


def test_exact_hints_tell_synthetic_blocks_apart_by_their_transactions():
    from parexec.analysis.block_profile import profile_block
    from parexec.calibration import ExactHints
    from parexec.fixtures.targets import load_targets

    targets = load_targets(["erc20:txs=6", "chain:txs=4"])
    profiles = [profile_block(t, 1) for t in targets]
    hints = ExactHints(targets, profiles)
    assert [len(hints.footprints_for(t.block)) for t in targets] == [6, 4]


def test_declared_dependencies_beat_speculation_on_a_hot_slot():
    """Every third transaction updates one slot: block-stm runs some of them
    before the last writer is final and redoes them; dag waits for it instead."""
    profile = block([HOT if j % 3 == 0 else own_slot(j) for j in range(60)], [1.0] * 60)
    for workers in (2, 4, 8):
        assert simulate(profile, "dag", workers, Overheads()) >= simulate(profile, "block-stm", workers, Overheads())
    assert simulate(profile, "dag", 2, Overheads()) > 1.05 * simulate(profile, "block-stm", 2, Overheads())


def _payout(wallet: bytes, j: int, coinbase: bytes) -> Footprint:
    """A transfer from ``wallet``: its balance floor and nonce, credits to the
    recipient and (the fee) to the coinbase."""
    to = (0x5000 + j).to_bytes(20, "big")
    return Footprint(frozenset({(NONCE, wallet), (BALANCE_FLOOR, wallet), (EXISTS, wallet)}),
                     frozenset({(NONCE, wallet), (BALANCE_DELTA, wallet), (BALANCE_DELTA, to),
                                (BALANCE_DELTA, coinbase)}), wallet)


def _increment(j: int, coinbase: bytes) -> Footprint:
    """A call from a sender of its own that increments one hot slot."""
    sender = (0x9000 + j).to_bytes(20, "big")
    slot = (STORAGE, TOKEN, 999)
    return Footprint(frozenset({(NONCE, sender), (BALANCE_FLOOR, sender), slot}),
                     frozenset({(NONCE, sender), (BALANCE_DELTA, sender), (BALANCE_DELTA, coinbase), slot}),
                     sender)


def test_aborted_fee_payers_hold_up_the_payouts_of_the_coinbase():
    """Payouts read their sender's balance only as a floor, which is no
    dependency; but the engine sums the balance's entries for it, so when the
    coinbase pays out, an ESTIMATE of any aborted fee payer below suspends the
    payout or fails its validation. A hot wallet that is not the coinbase is
    not held up by them."""
    coinbase, wallet = b"\xc0" * 20, b"\xee" * 20

    def mixed(payer):
        footprints = [_increment(j, coinbase) if j % 5 == 4 else _payout(payer, j, coinbase) for j in range(120)]
        return block(footprints, [1.0] * 120)

    for workers in (2, 4):
        from_coinbase = simulate(mixed(coinbase), "block-stm", workers, Overheads())
        from_wallet = simulate(mixed(wallet), "block-stm", workers, Overheads())
        assert from_coinbase < from_wallet, workers


def test_a_long_transaction_at_the_front_does_not_starve_bals_workers():
    """The coordinator tops its workers up only between its own transactions: one
    that runs as long as 30 others must find them holding enough (as on 15274915)."""
    profile = block([own_slot(j) for j in range(129)], [30.0] + [1.0] * 128)
    speedup = simulate(profile, "bal", 2, Overheads())
    assert speedup >= 0.95 * 158 / 79, speedup  # half the work each, near enough


def test_the_lists_decoding_on_every_process_is_serial_work():
    profile = block([own_slot(j) for j in range(64)], [1.0] * 64)
    free = simulate(profile, "bal", 32, Overheads())
    decoded = simulate(profile, "bal", 32, Overheads(list_index=0.25))  # 16 units before anyone starts
    assert decoded < free and decoded <= 64 / (16 + 2) + 1e-9, (free, decoded)


def test_the_workers_start_while_the_coordinator_enters_the_whole_list():
    """Entering the whole list holds up only the coordinator: the workers have
    their first chunks; entering what a transaction reads slows only the worker
    that executes it."""
    profile = block([own_slot(j) for j in range(64)], [1.0] * 64)
    free = simulate(profile, "bal", 4, Overheads())
    whole = simulate(profile, "bal", 4, Overheads(list_load=0.25))  # 16 units on the coordinator alone
    assert whole < free and whole > 64 / (16 + 16 / 3 + 2), (free, whole)
    entering = simulate(profile, "bal", 4, Overheads(enter_account=0.5))
    assert entering < free and entering > simulate(profile, "bal", 4, Overheads(result_check=0.5)), (free, entering)


@pytest.mark.parametrize("strategy", PARALLEL)
def test_the_block_is_handed_to_every_worker_in_turn(strategy):
    """``start`` is the block handed to one worker (as calibration probes it); each
    further worker costs a write more, before anything runs. bal's model writes
    every worker its block itself, with its list and first chunk (one write each,
    the first worker's too: the list comes on top of the probe's block)."""
    profile = block([own_account(j + 1) for j in range(64)], [1.0] * 64)
    for workers in (2, 8, 32):
        free = simulate(profile, strategy, workers, Overheads(start=1.0))
        sent = simulate(profile, strategy, workers, Overheads(start=1.0, send=0.5))
        writes = workers - 1 if strategy == "bal" else workers - 2
        assert 64 / sent - 64 / free == pytest.approx(0.5 * writes), workers


def test_bals_messages_cost_more_per_transaction_as_chunks_shrink():
    """bal's coordinator writes a message for each chunk of work (and each claim):
    at 32 workers a chunk holds two transactions where at 2 it holds 16, so what
    a message costs weighs more per transaction. No other engine's model charges it."""
    profile = block([own_slot(j) for j in range(256)], [1.0] * 256)
    lost = {workers: simulate(profile, "bal", workers, Overheads()) /
            simulate(profile, "bal", workers, Overheads(message=0.05)) - 1 for workers in (2, 32)}
    assert 0 < lost[2] < lost[32]
    # at 32 workers the block takes at least a message to each of 31 workers longer: their first chunks
    elapsed = [256 / simulate(profile, "bal", 32, Overheads(message=message)) for message in (0.0, 0.05)]
    assert elapsed[1] - elapsed[0] >= 31 * 0.05
    for strategy in PARALLEL:
        if strategy != "bal":
            assert simulate(profile, strategy, 8, Overheads(message=0.05)) == simulate(profile, strategy, 8, Overheads())


def test_bals_list_is_written_to_every_worker_before_anything_runs():
    """The coordinator writes the block's list (``list_bytes``) to each worker in
    turn: at 32 workers 31 times, which a block whose work is short pays in full."""
    profile = replace(block([own_slot(j) for j in range(64)], [1.0] * 64), list_bytes=1000)
    for workers in (2, 8, 32):
        free = simulate(profile, "bal", workers, Overheads())
        sent = simulate(profile, "bal", workers, Overheads(send_byte=1e-3))  # 1 unit a worker
        assert 64 / sent - 64 / free == pytest.approx(workers - 1), workers
    assert simulate(replace(profile, list_bytes=0), "bal", 32, Overheads(send_byte=1e-3)) == pytest.approx(
        simulate(profile, "bal", 32, Overheads()))


def test_bal_charges_a_round_trip_its_ipc_once():
    """ipc is timed as a whole round trip (calibration.measure_pool), and every
    model charges it once, on the way back: a block whose last result comes
    from a worker ends ipc later, not twice that."""
    for n in (16, 64):
        profile = block([own_slot(j) for j in range(n)], [1.0] * n)
        for workers in (2, 8):
            slower = n / simulate(profile, "bal", workers, Overheads(ipc=0.25))
            assert slower - n / simulate(profile, "bal", workers, Overheads()) == pytest.approx(0.25)


def test_a_blocks_start_leaves_out_the_round_trip_the_models_charge(monkeypatch):
    """The probe's first task takes longer than a later one (the worker sets up
    the block); only that excess, beyond a later task's round trip (ipc), is
    the block's start: the models charge the first task's ipc themselves."""
    from types import SimpleNamespace

    from parexec import calibration

    seconds = [1e-3] * 6
    firsts = iter([5e-4, 7e-4, 6e-4, 6e-4])  # the first task's extra, a probe each (the first warms)

    def probing(_block, _pre_state, probe, _workers, with_state_root):
        probe.start_seconds = 2e-4
        extra = next(firsts)
        probe.round_trips = [(0, seconds[0] + extra)] + [(j, seconds[j] + 3e-5) for j in range(1, 6)]

    monkeypatch.setattr(calibration, "execute_block", probing)
    target = SimpleNamespace(block=None, pre_state=None)
    profile = SimpleNamespace(txs=[SimpleNamespace(seconds=s) for s in seconds])
    start, ipc = calibration.measure_pool(target, profile, tasks=6, probes=3)
    assert ipc == pytest.approx(3e-5)
    assert start == pytest.approx(2e-4 + 6e-4 - 3e-5)


def test_a_blocks_own_list_load_replaces_the_calibrated_one():
    """A profile that holds its list's measured entering is charged that, not
    the calibrated cost per transaction (lists differ: 5-35 us a transaction on
    the shared mainnet blocks)."""
    profile = block([own_slot(j) for j in range(64)], [1.0] * 64)
    per_tx = simulate(profile, "bal", 4, Overheads(list_load=0.25))  # 16 units
    own = replace(profile, list_load=16.0)
    assert simulate(own, "bal", 4, Overheads()) == pytest.approx(per_tx)
    assert simulate(own, "bal", 4, Overheads(list_load=1.0)) == pytest.approx(per_tx)  # the calibrated one unused
    assert simulate(replace(profile, list_load=0.0), "bal", 4, Overheads(list_load=0.25)) > per_tx


def test_a_blocks_own_list_view_replaces_the_calibrated_view_for_bal_alone():
    """bal's executions run on the block's own list: where a profile holds how
    much slower they are there (list_view), that replaces the calibrated view
    (timed on a synthetic list); every other engine keeps the calibrated one.
    The view and the contention both slow every execution."""
    profile = block([own_slot(j) for j in range(64)], [1.0] * 64)
    calibrated = Overheads(view=0.1)
    assert simulate(replace(profile, list_view=0.1), "bal", 4, Overheads(view=0.3)) == \
        pytest.approx(simulate(profile, "bal", 4, calibrated))
    assert simulate(replace(profile, list_view=0.0), "bal", 4, calibrated) > simulate(profile, "bal", 4, calibrated)
    assert simulate(replace(profile, list_view=0.0), "occ", 4, calibrated) == simulate(profile, "occ", 4, calibrated)
    for strategy in ("occ", "bal"):  # each share slows: 1.1 x 1.2 against either alone
        both = simulate(profile, strategy, 4, Overheads(view=0.1, contention=0.2))
        assert both < simulate(profile, strategy, 4, Overheads(contention=0.2)) < simulate(profile, strategy, 4,
                                                                                           Overheads())
        assert both < simulate(profile, strategy, 4, calibrated)


def test_a_worker_enters_each_account_once_and_every_worker_the_hot_one():
    """A worker enters an account of the list the first time a transaction it
    executes touches it, at a cost growing with the locations and changes the
    list holds for it: a hot account (every transaction writes it) is entered
    once per worker, so its cost grows with the workers, where the cold ones'
    is shared."""
    from parexec.analysis.simulator import ListSize, list_entries

    hot = (STORAGE, TOKEN, 999)
    profile = block([Footprint(frozenset({hot}), frozenset({hot, (STORAGE, bytes([j]) * 20, 0)}))
                     for j in range(1, 65)], [1.0] * 64)
    touched, sizes = list_entries(profile)
    assert sizes[TOKEN] == ListSize(1, 64) and sizes[bytes([5]) * 20] == ListSize(1, 1)
    assert touched[4] == {TOKEN, bytes([5]) * 20}
    free = [simulate(profile, "bal", w, Overheads()) for w in (2, 8)]
    hot_cost = [simulate(profile, "bal", w, Overheads(enter_change=0.05)) for w in (2, 8)]
    cold_cost = [simulate(profile, "bal", w, Overheads(enter_account=0.05)) for w in (2, 8)]
    hot_loss = [c / f for c, f in zip(hot_cost, free)]  # the token: 3.2 units on each worker
    cold_loss = [c / f for c, f in zip(cold_cost, free)]  # each own account once, wherever it runs
    assert hot_loss[0] > 0.9 and hot_loss[1] < 0.85 and hot_loss[1] < hot_loss[0] - 0.1, hot_loss
    assert abs(cold_loss[1] - cold_loss[0]) < 0.03 and cold_loss[1] > 0.9, cold_loss


def test_a_list_entry_is_sized_by_its_locations_and_their_changes():
    """The fee recipient's credits and a balance written exactly are one series of
    the list (one location, a change each); a slot only read is a location and a
    change; every slot changed is a location of its own."""
    from parexec.analysis.simulator import ListSize, list_entries
    from parexec.model import BALANCE, BALANCE_DELTA

    fee = bytes([0xFE]) * 20
    credited = [Footprint(frozenset({(STORAGE, TOKEN, j), (STORAGE, TOKEN, 100 + j)}),
                          frozenset({(BALANCE_DELTA, fee), (STORAGE, TOKEN, j)})) for j in range(5)]
    observed = Footprint(frozenset({(BALANCE, fee)}), frozenset({(BALANCE, fee)}))
    _, sizes = list_entries(block(credited + [observed], [1.0] * 6))
    assert sizes[fee] == ListSize(1, 6)
    assert sizes[TOKEN] == ListSize(10, 10)  # five slots changed once, five only read


def test_bal_starts_the_heaviest_transaction_first():
    """With a list the order is free: a transaction as long as a third of the
    block, in its middle, is handed out first (its gas limit shows it), so the
    block takes little more than it (in block order it would start late)."""
    seconds = [1.0] * 80 + [30.0] + [1.0] * 80
    txs = [TxProfile(j, 21000, s, own_slot(j), gas_limit=int(21000 * s)) for j, s in enumerate(seconds)]
    profile = BlockProfile("hand-built", txs, sum(seconds))
    assert simulate(profile, "bal", 8, Overheads()) >= 0.9 * sum(seconds) / 30.0


def test_bals_idle_workers_take_the_chunk_queued_behind_a_long_transaction():
    """The worker that draws the longest transaction (a fifth of the block) also
    holds a chunk queued behind it; once the ends meet, a worker with nothing left
    gets it (all_at_once.move_to_idle), so the block takes little more than a
    quarter of the work: 3.81x of 4 (left behind the long one: 3.59x)."""
    seconds = [30.0] + [4.0] * 8 + [1.0] * 60
    txs = [TxProfile(j, 21000, s, own_slot(j), gas_limit=int(21000 * s)) for j, s in enumerate(seconds)]
    profile = BlockProfile("hand-built", txs, sum(seconds))
    assert simulate(profile, "bal", 4, Overheads()) >= 0.93 * 4


def test_bal_stages_the_post_state_while_the_workers_run():
    """Staging the list's post-state is the coordinator's work during the run,
    which the workers fill; settling comes after all of it."""
    profile = block([own_slot(j) for j in range(64)], [1.0] * 64)
    assert simulate(profile, "bal", 8, Overheads(stage=0.1)) > simulate(profile, "bal", 8, Overheads(settle=0.1))


def test_bal_commits_in_block_order_as_the_results_come_in():
    """The coordinator commits a transaction once it and every one before it
    are in: while the workers run, so that little is left for the end, unless
    the first transaction of the block is the last to be done."""
    light_first = block([own_slot(j) for j in range(64)], [1.0] * 64)
    free = simulate(light_first, "bal", 4, Overheads())
    committed = simulate(light_first, "bal", 4, Overheads(commit_in_order=0.1))
    settled = simulate(light_first, "bal", 4, Overheads(settle=0.1))
    assert settled < committed < free, (free, committed, settled)  # the same cost, mostly off the end
    seconds = [30.0] + [1.0] * 63  # the first, the heaviest, started first on a worker and done last
    txs = [TxProfile(j, 21000, s, own_slot(j), gas_limit=int(21000 * s)) for j, s in enumerate(seconds)]
    long_first = BlockProfile("hand-built", txs, sum(seconds))
    assert simulate(long_first, "bal", 4, Overheads(commit_in_order=0.1)) == pytest.approx(
        simulate(long_first, "bal", 4, Overheads(settle=0.1)))  # every commit waits for it


def test_the_serial_work_every_strategy_pays_is_the_pipelines():
    """What lies outside the strategy (system calls, rewards, receipts) is serial
    for everyone; serial's own loop (applying each result) is serial's, and a
    parallel strategy's own commit is in its model instead."""
    from parexec.analysis.block_profile import profile_block
    from parexec.fixtures.targets import load_targets

    measured = profile_block(load_targets(["erc20:txs=40"])[0], repeat=1)
    assert 0 < measured.pipeline_seconds < measured.block_seconds - measured.tx_seconds
    profile = block([own_slot(j) for j in range(64)], [1.0] * 64, rest=8.0)  # no pipeline figure: all of it
    whole_rest = simulate(profile, "bal", 8, Overheads())
    assert simulate(replace(profile, pipeline_seconds=2.0), "bal", 8, Overheads()) > whole_rest


@pytest.mark.parametrize("strategy", PARALLEL)
def test_the_workers_share_the_receipts_of_a_big_block(strategy):
    """A block run on the workers has them encode and hash shares of its
    receipts (the profile times that work): it comes off the serial rest, a
    round trip more; under MIN_RECEIPTS a process it stays with the coordinator."""
    from parexec.analysis.block_profile import profile_block
    from parexec.fixtures.targets import load_targets
    from parexec.parallel.worker_pool import MIN_RECEIPTS

    measured = profile_block(load_targets(["erc20:txs=40"])[0], repeat=1)
    assert 0 < measured.receipts_seconds < measured.pipeline_seconds
    n = 4 * MIN_RECEIPTS
    profile = replace(block([own_account(j + 1) for j in range(n)], [1.0] * n, rest=n / 4),
                      pipeline_seconds=n / 4)
    alone = simulate(profile, strategy, 4, Overheads(ipc=0.5))
    shared = replace(profile, receipts_seconds=n / 8)
    assert simulate(shared, strategy, 4, Overheads(ipc=0.5)) > alone
    serial = profile.block_seconds
    elapsed = {send: serial / simulate(shared, strategy, 4, Overheads(ipc=0.5, send=send)) for send in (0.0, 0.25)}
    # the block to two more workers than the probe's one (bal: with its list, to each of three), a share of the
    # receipts to each of three
    assert elapsed[0.25] - elapsed[0.0] == pytest.approx(0.25 * ((3 if strategy == "bal" else 2) + 3))
    small = block([own_account(j + 1) for j in range(MIN_RECEIPTS)], [1.0] * MIN_RECEIPTS, rest=8.0)
    small = replace(small, pipeline_seconds=8.0)
    assert simulate(replace(small, receipts_seconds=4.0), strategy, 4, Overheads()) == \
        simulate(small, strategy, 4, Overheads())


def test_the_directly_timed_overheads_run_the_engines_own_code():
    """Each overhead timed apart (not fitted) runs the code the engine runs: a
    change there that the calibration misses fails here, not in a user's
    ``simulate``."""
    from parexec.access.eip7928_builder import build_access_list
    from parexec.analysis.block_profile import profile_block
    from parexec.calibration import (
        ExactHints,
        measure_contention,
        measure_list_costs,
        measure_result_check,
        measure_sending,
        measure_staging,
        with_list_load,
    )
    from parexec.fixtures.targets import load_targets

    target = load_targets(["erc20:txs=40"])[0]
    profile = profile_block(target, repeat=1)
    encoded = ExactHints([target], [profile]).eip7928_for(target.block).encode()
    index, whole, (per_account, per_location, per_change) = measure_list_costs(target, profile, encoded, repeat=1)
    assert index > 0 and whole > 0  # times: no order between them is asserted (noisy)
    assert min(per_account, per_location, per_change) >= 0 and per_account + per_location + per_change > 0
    measured = with_list_load(target, profile, repeat=1)
    assert measured.list_load > 0 and measured.txs == profile.txs and profile.list_load is None
    assert measured.list_view is not None and measured.list_view > -1 and profile.list_view is None  # a share
    assert measured.list_bytes == len(build_access_list(target.block, target.pre_state).encode())
    send, per_byte = measure_sending(probes=5)
    assert send >= 0 and per_byte >= 0 and send + per_byte > 0
    assert measure_result_check(target, encoded, repeat=1) > 0 and measure_staging(target, encoded, repeat=1) > 0
    contention, view = measure_contention(target, ExactHints([target], [profile]), profile, pairs=1,
                                          entering=Overheads(enter_account=per_account, enter_location=per_location,
                                                             enter_change=per_change))
    assert contention >= 0 and view > -1  # shares (the view may come out below zero: noise)


def test_every_overhead_has_a_what_if():
    from dataclasses import fields

    from parexec.analysis.what_if import GROUPS

    grouped = [name for _, names, _ in GROUPS for name in names]
    assert sorted(grouped) == sorted(f.name for f in fields(Overheads))


def test_what_ifs_name_what_holds_the_figure():
    from parexec.analysis.what_if import what_ifs

    profiles = [block([own_account(j + 1) for j in range(64)], [1e-3] * 64, rest=2e-3),
                block([HOT] * 8 + [own_account(j + 1) for j in range(40)], [1e-3] * 48)]
    oh = Overheads(commit=2e-4, contention=0.1, list_load=5e-5)  # list_load is bal's alone
    what = what_ifs(profiles, "occ", 8, oh)
    assert [row.overhead for row in what.rows] == ["commit", "contention"]  # the costliest first
    assert what.rows[0].values == {"commit": 2e-4}
    assert all(what.as_calibrated < row.speedup <= what.without_any for row in what.rows)
    assert what.without_any == pytest.approx(
        statistics.geometric_mean([simulate(p, "occ", 8, Overheads()) for p in profiles]))
    bal = what_ifs(profiles, "bal", 8, oh)
    assert "list_load" in [row.overhead for row in bal.rows]
    # a block's own list load is zeroed with the calibrated one, and shown per transaction
    own = what_ifs([replace(p, list_load=len(p.txs) * 1e-4) for p in profiles], "bal", 8, oh)
    load = next(row for row in own.rows if row.overhead == "list_load")
    assert load.values == {"list_load": pytest.approx(1e-4)}
    assert load.speedup == pytest.approx(next(r.speedup for r in bal.rows if r.overhead == "list_load"))
    assert own.as_calibrated < bal.as_calibrated  # 0.1 ms a transaction, against 0.05 ms calibrated
    # a block's own view, a share: shown as their mean, and zeroed with the calibrated one
    viewed = replace(oh, view=0.05)
    views = what_ifs([replace(p, list_view=share) for p, share in zip(profiles, (0.1, 0.2))], "bal", 8, viewed)
    view = next(row for row in views.rows if row.overhead == "view")
    assert view.values == {"view": pytest.approx(0.15)}
    assert view.speedup == pytest.approx(bal.as_calibrated)  # no view left: as ``oh``
    assert views.as_calibrated < bal.as_calibrated
    assert views.without_any == pytest.approx(bal.without_any)
    occ_view = next(row for row in what_ifs([replace(p, list_view=0.1) for p in profiles], "occ", 8, viewed).rows
                    if row.overhead == "view")
    assert occ_view.values == {"view": 0.05}  # other engines are charged the calibrated view, and shown it


def test_what_ifs_free_the_coordinator_at_once():
    """bal's coordinator pays several costs per transaction: zeroed together, the
    figure gains more than from any one of them, never past none at all; occ's
    coordinator pays one, which is its row."""
    from parexec.analysis.what_if import COORDINATOR, what_ifs

    profiles = [block([own_account(j + 1) for j in range(64)], [1e-4] * 64, rest=2e-4)]
    oh = Overheads(commit=2e-5, list_load=2e-5, stage=1e-5, commit_in_order=1e-5, settle=1e-5, contention=0.05)
    bal = what_ifs(profiles, "bal", 32, oh)
    assert bal.coordinator_free is not None
    singles = [row.speedup for row in bal.rows if set(row.values) <= set(COORDINATOR)]
    assert len(singles) > 1 and max(singles) < bal.coordinator_free < bal.without_any
    assert bal.coordinator_free == pytest.approx(
        simulate(profiles[0], "bal", 32, replace(oh, **dict.fromkeys(COORDINATOR, 0.0))))
    assert what_ifs(profiles, "occ", 32, oh).coordinator_free is None
    from rich.console import Console

    from parexec.report.tables import what_if_table

    console = Console(record=True, width=250)
    console.print(what_if_table(bal))
    text = console.export_text()
    assert "(the coordinator's, all)" in text and f"{bal.coordinator_free:.2f}x" in text


def test_cli_simulate_what_if(tmp_path):
    from click.testing import CliRunner

    from parexec.calibration import Calibration, save
    from parexec.cli import main

    cal = tmp_path / "cal.json"
    save(cal, Calibration(Overheads(ipc=1e-4, start=1e-3, contention=0.1), {s: 5e-5 for s in PARALLEL}), {})
    result = CliRunner().invoke(main, ["simulate", "erc20:txs=40", "--workers", "2,8", "--strategies", "occ",
                                       "--repeat", "1", "--calibration", str(cal), "--what-if", "8"])
    assert result.exit_code == 0, result.output
    assert "--what-if: occ at 8 workers" in result.output
    for row in ("(as calibrated)", "commit", "contention", "(none at all)"):
        assert row in result.output


def test_a_model_that_misses_its_own_machine_is_named():
    """--validate's warning: the strategies whose median error of the speedup
    passes MODEL_TOLERANCE, with that median; a quiet calibration's few percent
    passes, and rows without a measurement are left out."""
    rows = [
        {"strategy": "bal", "predicted_speedup": 1.76, "measured_speedup": 1.78},
        {"strategy": "bal", "predicted_speedup": 1.70, "measured_speedup": 1.74},
        {"strategy": "bal", "predicted_speedup": 5.0},  # 32 workers: nothing measured
        {"strategy": "occ", "predicted_speedup": 1.20, "measured_speedup": 1.50},
        {"strategy": "occ", "predicted_speedup": 1.25, "measured_speedup": 1.52},
        {"strategy": "occ", "predicted_speedup": 1.49, "measured_speedup": 1.50},
    ]
    errors = prediction_errors(rows)
    assert sorted(errors) == ["bal", "occ"] and len(errors["bal"]) == 2
    missed = beyond_tolerance(errors)
    assert list(missed) == ["occ"]
    assert missed["occ"] == pytest.approx(abs(1.25 / 1.52 - 1))
    assert beyond_tolerance(errors, tolerance=0.5) == {}
    assert MODEL_TOLERANCE == 0.10  # README and --help say 10%
