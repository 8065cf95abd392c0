"""The bal strategy (strategies/bal.py): with a block's exact EIP-7928 list every
result equals serial's; a list a transaction disagrees with makes the block
invalid under list semantics, naming the transaction and the location, or, with
--fallback, runs it with dag and still equals serial; no list: occ."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import rlp
import rusty_rlp
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from conftest import EEST, MAINNET, prop_settings, require_data
from list_helpers import EXCESS, PERTURBATIONS, perturbed
from parexec.access.eip7928 import AccountChanges, BlockAccessList
from parexec.access.access_list import AccessListHints
from parexec.access.eip7928_builder import build_access_list, write_eip7928_lists
from parexec.block.pipeline import execute_block
from parexec.cli import main
from parexec.fixtures.targets import load_targets
from parexec.model import BlockRejected, FixtureError
from parexec.strategies import get_strategy
from parexec.strategies.serial import SerialStrategy


class OneList:
    """Hints holding one block's list."""

    def __init__(self, access_list):
        self.access_list = access_list

    def eip7928_for(self, block):
        return self.access_list


def _serial(target):
    return execute_block(target.block, target.pre_state, SerialStrategy(), 1)


def _bal(target, access_list, workers=2, fallback=False):
    strategy = get_strategy("bal", hints=OneList(access_list), fallback=fallback)
    return execute_block(target.block, target.pre_state, strategy, workers)


@pytest.mark.parametrize("spec", ["erc20:txs=80,hot=1", "chain:txs=60", "amm:txs=60,hot=0.5", "nft:txs=60,hot=0.5",
                                  "mixed:txs=80", "transfers:txs=80,hot=1"])
@pytest.mark.parametrize("workers", [1, 2])
def test_exact_lists_give_serials_outcome(spec, workers):
    target = load_targets([spec])[0]
    outcome = _bal(target, build_access_list(target.block, target.pre_state), workers)
    assert _serial(target).first_difference(outcome) is None
    assert outcome.stats.hints == "eip7928 list" and outcome.stats.reexecutions == 0
    here = outcome.stats.coordinator_executions  # the rest ran on the worker
    assert here == len(target.block.transactions) if workers == 1 else 0 < here < outcome.stats.executions


@pytest.mark.parametrize("kind", PERTURBATIONS)
def test_a_wrong_list_is_rejected_by_name_or_falls_back_to_dag(kind):
    target = load_targets(["erc20:txs=60,hot=0.5"])[0]
    wrong = perturbed(build_access_list(target.block, target.pre_state), kind, 3)
    named = r"the list holds .*, which nothing in the block accesses" if kind in EXCESS else r"tx \d+"
    with pytest.raises(BlockRejected, match=r"invalid access list: .*" + named):
        _bal(target, wrong)
    outcome = _bal(target, wrong, fallback=True)
    assert _serial(target).first_difference(outcome) is None
    assert outcome.stats.hints.startswith("invalid list, dag: ")


@prop_settings(12)  # PAREXEC_HYPOTHESIS_EXAMPLES, _SEED: more, or others (conftest)
@given(workload=st.sampled_from(["erc20", "transfers", "amm", "nft", "chain"]), seed=st.integers(0, 10_000),
       hot=st.sampled_from([0, 0.5, 1]),
       kind=st.sampled_from(["none", *PERTURBATIONS]),
       pick=st.integers(0, 1000))
def test_random_blocks_with_exact_or_perturbed_lists(workload, seed, hot, kind, pick):
    target = load_targets([f"{workload}:txs=24,seed={seed},hot={hot}"])[0]
    exact = build_access_list(target.block, target.pre_state)
    serial = _serial(target)
    access_list = exact if kind == "none" else perturbed(exact, kind, pick)
    assert serial.first_difference(_bal(target, access_list, fallback=True)) is None
    try:
        outcome = _bal(target, access_list)
    except BlockRejected as exc:
        assert kind != "none" and "invalid access list" in str(exc)
    else:  # held in full (values, no-op changes, entries nothing accesses), only the block's own list passes
        assert access_list == exact
        assert serial.first_difference(outcome) is None


@pytest.mark.parametrize("spec, from_the_list", [("erc20:txs=60,hot=0.5", True), ("redelegate:txs=40", True),
                                                  ("redeploy:txs=40", True), ("mainnet 2675000", False)])
def test_the_post_state_is_the_lists_unless_a_transaction_destroys(spec, from_the_list, monkeypatch):
    """bal settles a block by merging the post-state it staged from the list's
    values while the workers ran; a block in which a transaction destroys an
    account (which no list value says: mainnet 2675000 deletes an empty account it
    touches, EIP-161) has its results applied in order. Both give serial's
    outcome (code set again and again included: redelegate)."""
    from parexec.strategies import bal

    merged = []  # whether the staged post-state was what the block left
    settled = bal.settled
    monkeypatch.setattr(bal, "settled", lambda state, staged, results:
                        (after := settled(state, staged, results), merged.append(after is staged))[0])
    if spec.startswith("mainnet "):
        spec = str(require_data(MAINNET) / "blocks" / spec.split()[1])
    target = load_targets([spec])[0]
    assert any(r.destroyed for r in _serial(target).tx_results) != from_the_list
    outcome = _bal(target, build_access_list(target.block, target.pre_state))
    assert _serial(target).first_difference(outcome) is None
    assert merged == [from_the_list]


def test_settling_creates_the_empty_accounts_a_list_cannot_show():
    """An account a transaction creates with every field at its default (before
    EIP-161) changes no value a list holds: the results name it."""
    from parexec.model import EXISTS, Account, TxResult
    from parexec.state.memory import MemoryState
    from parexec.state.overlay import OverlayState
    from parexec.strategies.bal import settle

    empty, other = b"\x0e" * 20, b"\x0f" * 20
    state = OverlayState(MemoryState())
    staged = OverlayState(state)
    staged.apply({(EXISTS, other): True, ("balance", other): 5})  # what the list's values give
    result = TxResult(index=0, reads=None, writes={(EXISTS, empty): True, (EXISTS, other): True,
                                                    ("balance", other): 5},
                      new_code={}, gas_used=21000, success=True, logs=(), created=(empty, other))
    settle(state, staged, [result])
    assert state.account(empty) == Account() and state.account(other).balance == 5


def test_workers_check_their_own_results_and_send_them_without_reads():
    target = load_targets(["erc20:txs=120"])[0]
    outcome = _bal(target, build_access_list(target.block, target.pre_state), workers=2)
    assert _serial(target).first_difference(outcome) is None
    by_worker = [r for r in outcome.tx_results if r.reads is None]
    assert 0 < len(by_worker) < len(outcome.tx_results)  # the coordinator's keep theirs
    assert all(r.list_changes for r in by_worker)  # each counted the list's changes it accounts for


def test_a_worker_says_what_its_results_accessed_from_what_it_gathered_as_it_held_them():
    """A worker gathers what each result it holds to the list accessed, as it
    holds it, and each reply carries what is new since the last; asked about all
    of them it answers with what its replies carried, asked about some, it
    gathers those; each as the coordinator would from the reads and writes."""
    from parexec.access.eip7928_check import Accessed, ListCheck
    from parexec.parallel.list_memory import ListMemory
    from parexec.parallel.worker import WorkerState
    from parexec.state.overlay import OverlayState

    target = load_targets(["erc20:txs=40,hot=0.5"])[0]
    results = _serial(target).tx_results
    encoded = build_access_list(target.block, target.pre_state).encode()
    worker = WorkerState()
    worker.list_check = ListCheck(ListMemory(OverlayState(target.pre_state), encoded, len(results)))
    replied = []
    for j, result in enumerate(copy.copy(r) for r in results):
        worker.hold(j, result)
        assert result.reads is None and result.list_changes  # it agreed: sent without reads
        if j in (9, 25):  # a reply goes: it carries what the results held since the last one accessed
            replied.append(worker.accessed_since())
    replied.append(worker.accessed_since())
    assert worker.accessed_since() is None  # nothing new
    for txs in (range(len(results)), [3, 17, 30]):
        accessed = Accessed()
        for j in txs:
            accessed.add(results[j].reads)
            accessed.add(results[j].writes)
        assert worker.accessed(list(txs)) == accessed.units()
    everything = worker.accessed(list(range(len(results))))
    assert set().union(*(r[0] for r in replied)) == everything[0]
    assert set().union(*(r[1] for r in replied)) == everything[1]
    assert sum(len(r[0]) for r in replied) == len(everything[0])  # none twice


def test_a_disagreeing_result_ends_the_block_before_the_rest_is_committed(monkeypatch):
    """The coordinator commits as results come in: a transaction that disagrees
    with the list is found once those before it are in, and nothing after it is
    committed."""
    from parexec.strategies import bal

    commits = []
    commit = bal.BlockOrder._commit

    def counted(order, j, outcome):
        commits.append(j)
        return commit(order, j, outcome)

    monkeypatch.setattr(bal.BlockOrder, "_commit", counted)
    target = load_targets(["erc20:txs=120"])[0]
    wrong = perturbed(build_access_list(target.block, target.pre_state), "value", 3)
    with pytest.raises(BlockRejected, match="invalid access list"):
        _bal(target, wrong, workers=2)
    assert commits == list(range(len(commits))) and len(commits) < 120


@pytest.mark.parametrize("workers", [1, 2])
def test_a_list_missing_what_the_pre_block_calls_read_is_rejected(workers):
    """The EIP-4788 call reads its contract even where no code is there and it
    writes nothing: a list without that account misses an access of the block,
    and is invalid (found by the property test: it was accepted)."""
    from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS

    target = load_targets(["erc20:txs=24,seed=0,hot=0"])[0]
    exact = build_access_list(target.block, target.pre_state)
    wrong = BlockAccessList(tuple(a for a in exact.accounts if a.address != BEACON_ROOTS_ADDRESS))
    assert len(wrong.accounts) == len(exact.accounts) - 1
    with pytest.raises(BlockRejected, match=f"invalid access list: the steps around the transactions access "
                                            f"0x{BEACON_ROOTS_ADDRESS.hex()}, whose account the list does not hold"):
        _bal(target, wrong, workers)
    assert _serial(target).first_difference(_bal(target, wrong, workers, fallback=True)) is None


@pytest.mark.parametrize("kind", EXCESS)
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_a_list_holding_what_nothing_accesses_is_rejected(kind, workers):
    """The EIP: "Missing or spurious entries invalidate the block". An account or
    a slot read that nothing in the block accesses changes no value any
    execution sees; bal finds it once every execution is in (the workers say
    what theirs accessed, having sent no reads), names it, and with --fallback
    runs the block with dag."""
    target = load_targets(["erc20:txs=60,hot=0.5"])[0]
    exact = build_access_list(target.block, target.pre_state)
    for pick in (0, 7, 41):
        wrong = perturbed(exact, kind, pick)
        with pytest.raises(BlockRejected, match=r"invalid access list: the list holds (0x(ee){20}|storage 0x[0-9a-f]{40}"
                                                r"\[0xee[0-9a-f]+\]), which nothing in the block accesses"):
            _bal(target, wrong, workers)
        outcome = _bal(target, wrong, workers, fallback=True)
        assert _serial(target).first_difference(outcome) is None
        assert outcome.stats.hints.startswith("invalid list, dag: the list holds")
    assert _bal(target, exact, workers).stats.hints == "eip7928 list"  # the pool is clean after it


def asking_the_workers(monkeypatch):
    """bal asks its workers what their committed executions accessed, as where
    it has learned a deletion or creation the list cannot show (a worker's
    execution of a transaction may then differ from the one committed)."""
    from parexec.strategies.bal import BlockOrder

    begin = BlockOrder.__init__

    def learned(self, *args):
        begin(self, *args)
        self.learned = True

    monkeypatch.setattr(BlockOrder, "__init__", learned)


def test_what_the_workers_executions_accessed_comes_with_their_results(monkeypatch):
    """Each worker's replies carry the accounts and slots its results held to the
    list accessed, none twice: nothing is asked once the block is done, and a
    list holding what nothing accesses is still rejected."""
    from parexec.parallel.worker_pool import WorkerPool

    def never(pool, wanted):
        raise AssertionError("asked")

    monkeypatch.setattr(WorkerPool, "ask_accessed", never)
    target = load_targets(["erc20:txs=60,hot=0.5"])[0]
    exact = build_access_list(target.block, target.pre_state)
    outcome = _bal(target, exact)
    assert _serial(target).first_difference(outcome) is None
    assert any(r.reads is None for r in outcome.tx_results) and outcome.stats.reexecutions == 0
    with pytest.raises(BlockRejected, match="which nothing in the block accesses"):
        _bal(target, perturbed(exact, "extra read", 5))


def test_a_worker_that_cannot_say_what_it_accessed_has_its_transactions_executed_again(monkeypatch):
    """A worker that dies or cannot answer when asked: its transactions run once
    more on the coordinator, for what they access, and the block is still held
    to the list exactly."""
    from parexec.parallel.worker_pool import WorkerPool

    asking_the_workers(monkeypatch)
    asked = WorkerPool.accessed_from

    def silent(pool, worker):
        asked(pool, worker)  # the answer comes, and is lost
        return None

    monkeypatch.setattr(WorkerPool, "accessed_from", silent)
    target = load_targets(["erc20:txs=60,hot=0.5"])[0]
    exact = build_access_list(target.block, target.pre_state)
    outcome = _bal(target, exact)
    assert _serial(target).first_difference(outcome) is None
    by_worker = sum(r.reads is None for r in outcome.tx_results)  # held to the list there, sent without reads
    assert by_worker > 0 and outcome.stats.reexecutions == by_worker
    with pytest.raises(BlockRejected, match="which nothing in the block accesses"):
        _bal(target, perturbed(exact, "extra read", 5))


def test_a_transaction_that_reads_the_system_caller_lists_it():
    """The EIP leaves the system calls' caller (0xff..fe) out "unless it experiences
    state access itself": a transaction reading its balance lists it, with no
    change, and bal takes the list; the system calls alone do not."""
    from eth.constants import SYSTEM_ADDRESS
    from eth.vm.forks import CancunVM

    from evm_helpers import address_of, asm, key, make_block, sign_tx
    from parexec.state.memory import MemoryState

    sender, probe = key(1), b"\x44" * 20
    pre = MemoryState()
    pre.set_account(address_of(sender), balance=10**20)
    pre.set_account(probe, code=asm(SYSTEM_ADDRESS, "BALANCE", "POP", "STOP"))
    txs = [sign_tx(CancunVM, sender, 0, probe), sign_tx(CancunVM, sender, 1, b"\x33" * 20, value=5)]
    target = replace(load_targets(["transfers:txs=2"])[0], block=make_block(CancunVM, txs, b"\x55" * 20),
                     pre_state=pre)
    listed = {a.address: a for a in build_access_list(target.block, pre).accounts}
    assert listed[SYSTEM_ADDRESS] == AccountChanges(SYSTEM_ADDRESS)
    for workers in (1, 2):
        assert _serial(target).first_difference(_bal(target, BlockAccessList(tuple(listed.values())), workers)) is None
    transfer = sign_tx(CancunVM, sender, 0, b"\x33" * 20, value=5)
    without = build_access_list(make_block(CancunVM, [transfer], b"\x55" * 20), pre)
    assert SYSTEM_ADDRESS not in {a.address for a in without.accounts}


def _with(access_list: BlockAccessList, entry: AccountChanges) -> BlockAccessList:
    """``access_list`` with ``entry`` in place of the entry of the same address."""
    return BlockAccessList(tuple(entry if a.address == entry.address else a for a in access_list.accounts))


def _rejected_and_fallback(target, wrong, message: str) -> None:
    for workers in (1, 2):
        with pytest.raises(BlockRejected, match=message):
            _bal(target, wrong, workers)
        outcome = _bal(target, wrong, workers, fallback=True)
        assert _serial(target).first_difference(outcome) is None
        assert outcome.stats.hints.startswith("invalid list, dag:")


def test_a_list_recording_a_write_that_changes_nothing_is_rejected():
    """The EIP records a write that leaves a value as it was as a read (a slot)
    or not at all (a balance), never as a change: a list that holds one as a
    change is not the block's list, even though every value in it is right.
    Here a new contract's zero balance, and a slot stored as it was."""
    from eth.vm.forks import CancunVM

    from evm_helpers import address_of, asm, create_address, initcode, key, make_block, sign_tx
    from parexec.state.memory import MemoryState

    sender, keeper = key(1), b"\x44" * 20
    me = address_of(sender)
    pre = MemoryState()
    pre.set_account(me, balance=10**20)
    pre.set_account(keeper, code=asm(9, 1, "SSTORE", "STOP"), storage={1: 9})  # stores what is there
    txs = [sign_tx(CancunVM, sender, 0, b"", data=initcode(asm("STOP"))), sign_tx(CancunVM, sender, 1, keeper)]
    target = replace(load_targets(["transfers:txs=2"])[0], block=make_block(CancunVM, txs, b"\x55" * 20),
                     pre_state=pre)
    exact = build_access_list(target.block, pre)
    listed = {a.address: a for a in exact.accounts}
    created = listed[create_address(me, 0)]
    assert created.balance_changes == () and listed[keeper].storage_reads == (1,)
    for workers in (1, 2):
        assert _serial(target).first_difference(_bal(target, exact, workers)) is None
    _rejected_and_fallback(target, _with(exact, replace(created, balance_changes=((1, 0),))),
                           r"the list changes balance of 0x[0-9a-f]{40} at tx 0 to 0, which it already was")
    _rejected_and_fallback(target, _with(exact, replace(listed[keeper], storage_reads=(),
                                                        storage_changes=((1, ((2, 9),)),))),
                           r"the list changes storage 0x(44){20}\[0x1\] at tx 1 \(to 9\); the transaction does not")


def test_what_a_deletion_clears_is_held_to_the_list():
    """Before Cancun SELFDESTRUCT deletes an account, so the transaction writes
    no nonce or code there; the list's changes there must still be what the
    deletion leaves (nonce 0, no code). A nonce left at 5 once made later
    transactions see the account alive, and bal accepted the list with a
    receipt that differed from serial's (a log of EXTCODEHASH)."""
    from eth.vm.forks import ShanghaiVM

    from evm_helpers import address_of, asm, key, make_block, sign_tx
    from parexec.state.memory import MemoryState

    sender, doomed, heir, probe = key(1), b"\xcc" * 20, b"\xdd" * 20, b"\x44" * 20
    pre = MemoryState()
    pre.set_account(address_of(sender), balance=10**20)
    pre.set_account(doomed, balance=100, nonce=1, code=asm(heir, "SELFDESTRUCT"), storage={1: 7})
    pre.set_account(probe, code=asm(doomed, "EXTCODEHASH", 0, "MSTORE", 32, 0, "LOG0", "STOP"))
    txs = [sign_tx(ShanghaiVM, sender, 0, doomed), sign_tx(ShanghaiVM, sender, 1, probe)]
    target = replace(load_targets(["transfers:txs=2"])[0], block=make_block(ShanghaiVM, txs, b"\x55" * 20),
                     pre_state=pre)
    exact = build_access_list(target.block, pre)
    entry = next(a for a in exact.accounts if a.address == doomed)
    assert (entry.nonce_changes, entry.code_changes) == (((1, 0),), ((1, b""),))
    for workers in (1, 2):
        assert _serial(target).first_difference(_bal(target, exact, workers)) is None
    _rejected_and_fallback(target, _with(exact, replace(entry, nonce_changes=((1, 5),))),
                           r"tx 0 clears nonce of 0x(cc){20}; the list says 5")
    _rejected_and_fallback(target, _with(exact, replace(entry, code_changes=((1, b"\x00"),))),
                           r"tx 0 clears code of 0x(cc){20}; the list says 0x")


@pytest.mark.parametrize("gas_price", [0, 10**9])
def test_an_empty_account_created_before_eip161_is_learned(gas_price):
    """Before Spurious Dragon a call that moves no value to a missing account
    creates it, empty, which no list value can show: a later transaction that
    sends it value pays no new-account gas serially. The coordinator learns the
    creation from the result that made it and executes the later transactions
    that may have seen the account once more, on a view that has it. At a gas
    price the extra 25,000 gas showed in the sender's balance, and bal rejected
    the exact list; at gas price 0 only in the receipt, and bal took the list
    with serial's receipt changed."""
    from eth.vm.forks import HomesteadVM

    from evm_helpers import address_of, asm, key, make_block, sign_tx
    from parexec.state.memory import MemoryState

    sender, empty, toucher, payer = key(1), b"\x77" * 20, b"\x44" * 20, b"\x45" * 20
    pre = MemoryState()
    pre.set_account(address_of(sender), balance=10**20)
    call = ("CALL", "POP", "STOP")  # CALL(gas, to, value, 0, 0, 0, 0)
    pre.set_account(toucher, code=asm(0, 0, 0, 0, 0, empty, 50_000, *call))
    pre.set_account(payer, balance=10, code=asm(0, 0, 0, 0, 1, empty, 50_000, *call))
    txs = [sign_tx(HomesteadVM, sender, 0, toucher, gas_price=gas_price),
           sign_tx(HomesteadVM, sender, 1, payer, gas_price=gas_price)]
    target = replace(load_targets(["transfers:txs=2"])[0], block=make_block(HomesteadVM, txs, b"\x55" * 20),
                     pre_state=pre)
    exact = build_access_list(target.block, pre)
    assert next(a for a in exact.accounts if a.address == empty).balance_changes == ((2, 1),)  # no creation at 1
    for workers in (1, 2):
        outcome = _bal(target, exact, workers)
        assert _serial(target).first_difference(outcome) is None
        assert outcome.stats.hints == "eip7928 list" and outcome.stats.reexecutions >= 1


def test_queued_work_moves_from_the_worker_on_a_long_transaction(monkeypatch):
    """16257471: one transaction of a second (22) beside 97 short ones. At 4
    workers the worker that draws it holds a chunk queued behind it; once the
    others have nothing left they get such chunks (all_at_once.move_to_idle)
    rather than wait for the coordinator to claim them one by one (slowed here,
    so that they always do), and the block is serial's."""
    import time

    from parexec.parallel import all_at_once

    moves = []
    move, run_tasks = all_at_once.move_to_idle, all_at_once.run_tasks

    def counted(pool, done, started, moved):
        before = set(moved)
        move(pool, done, started, moved)
        if moved - before:
            moves.append(moved - before)

    def slowly(*args, **kwargs):  # the coordinator's own executions
        time.sleep(0.1)
        return run_tasks(*args, **kwargs)

    monkeypatch.setattr(all_at_once, "move_to_idle", counted)
    monkeypatch.setattr(all_at_once, "run_tasks", slowly)
    target = load_targets([str(require_data(MAINNET) / "blocks" / "16257471")])[0]
    outcome = _bal(target, build_access_list(target.block, target.pre_state), workers=4)
    assert _serial(target).first_difference(outcome) is None
    assert moves and outcome.stats.reexecutions == 0


def test_a_list_file_that_breaks_its_rules_is_refused_and_the_workers_carry_on(tmp_path):
    """The workers get a file's bytes before the coordinator has read them, and
    start executing before it has checked every account: a bad list must not
    break them for the next block."""
    target = load_targets(["transfers:txs=30"])[0]
    exact = build_access_list(target.block, target.pre_state)
    write_eip7928_lists([(target.block, exact)], tmp_path)
    (rlp_file,) = tmp_path.glob("*.rlp")
    inside = rusty_rlp.decode_raw(exact.encode(), True, False)[0]
    inside[-1][3][0][1] = b"\x00" + inside[-1][3][0][1]  # a balance with a leading zero, in the last account
    for bad in (BlockAccessList(exact.accounts[::-1]).encode(), b"\xf8\x00garbage", rlp.encode(inside)):
        rlp_file.write_bytes(bad)
        strategy = get_strategy("bal", hints=AccessListHints(tmp_path))
        with pytest.raises(FixtureError, match=f"{rlp_file.name}: not a valid EIP-7928 list"):
            execute_block(target.block, target.pre_state, strategy, 2)
    rlp_file.write_bytes(exact.encode())
    outcome = execute_block(target.block, target.pre_state, get_strategy("bal", hints=AccessListHints(tmp_path)), 2)
    assert _serial(target).first_difference(outcome) is None and outcome.stats.hints == "eip7928 list"


def test_a_list_over_its_blocks_size_cap_is_refused():
    """EIP-7928 caps a list at the block's gas limit over 2,000 items (addresses and
    storage keys). Slots listed as read that nothing reads make a block invalid;
    past the cap the list is refused before that, as no valid list."""
    target = load_targets(["transfers:txs=30"])[0]
    exact = build_access_list(target.block, target.pre_state)
    items = exact.items()
    room = target.block.header.gas_limit // 2000 - items

    def padded(reads: int) -> BlockAccessList:
        first = exact.accounts[0]
        phantom = replace(first, storage_reads=tuple(sorted({*first.storage_reads, *range(2**200, 2**200 + reads)})))
        return BlockAccessList((phantom, *exact.accounts[1:]))

    with pytest.raises(BlockRejected, match=r"invalid access list: the list holds storage .*\[0x1000+\], which "
                                            r"nothing in the block accesses"):
        _bal(target, padded(room))  # at the cap
    with pytest.raises(FixtureError, match=f"not a valid EIP-7928 list: {items + room + 1:,} items"):
        _bal(target, padded(room + 1))


def test_one_list_file_named_otherwise_is_the_list_of_the_block_that_runs(tmp_path):
    """A list from elsewhere, given alone, is used (and held to the block), not
    silently passed over because its name does not say its block; in a folder
    only NUMBER-HASH names are matched."""
    target = load_targets(["transfers:txs=30"])[0]
    exact = build_access_list(target.block, target.pre_state)
    mine = tmp_path / "mine.rlp"
    mine.write_bytes(exact.encode())
    outcome = execute_block(target.block, target.pre_state, get_strategy("bal", hints=AccessListHints(mine)), 2)
    assert _serial(target).first_difference(outcome) is None and outcome.stats.hints == "eip7928 list"
    other = load_targets(["transfers:txs=31"])[0]  # another block: the list does not fit it
    with pytest.raises(BlockRejected, match="invalid access list"):
        execute_block(other.block, other.pre_state, get_strategy("bal", hints=AccessListHints(mine)), 2)
    (tmp_path / "lists").mkdir()
    mine.rename(tmp_path / "lists" / "mine.rlp")
    (tmp_path / "lists" / "stray.json").write_text("{}")
    with pytest.raises(FixtureError, match="no block access lists found .its .rlp files, such as mine.rlp"):
        AccessListHints(tmp_path / "lists")


def test_no_list_no_loss_runs_occ():
    target = load_targets(["transfers:txs=40"])[0]
    outcome = execute_block(target.block, target.pre_state, get_strategy("bal"), 2)
    assert _serial(target).first_difference(outcome) is None and outcome.stats.hints == "none: occ"


def test_verify_with_eip7928_hints(tmp_path):
    blocks = [str(require_data(MAINNET) / "blocks" / n) for n in ("4370000", "19426587")]
    made = CliRunner().invoke(main, ["access-list", *blocks, "--format", "eip7928", "-o", str(tmp_path)])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(main, ["verify", *blocks, "--strategy", "bal", "--workers", "2",
                                       "--hints", str(tmp_path)])
    assert result.exit_code == 0 and "2 passed, 0 failed" in result.output, result.output
    assert "bal ran 2 blocks: 2 with an EIP-7928 list" in result.output  # how, said: not only that it passed
    (tmp_path / next(p.name for p in tmp_path.glob("4370000-*.rlp"))).unlink()
    result = CliRunner().invoke(main, ["verify", *blocks, "--strategy", "bal", "--workers", "2",
                                       "--hints", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "bal ran 2 blocks: 1 with an EIP-7928 list, 1 without a list, run with occ" in result.output


def test_the_lists_changes_around_the_transactions_are_held_to_the_block(tmp_path):
    """What a list says at index 0 (the pre-block system calls: EIP-4788's beacon
    root) and at n+1 (withdrawals) must be what the block does there: a changed
    value makes the block invalid under list semantics, by index, and with
    --fallback it runs with dag."""
    from parexec.access.eip7928 import decode

    fixture = require_data(EEST / "v4.5.0/blockchain_tests/shanghai/eip4895_withdrawals/withdrawals/"
                                  "use_value_in_contract.json")
    lists = tmp_path / "lists"
    made = CliRunner().invoke(main, ["access-list", str(fixture), "--format", "eip7928", "-o", str(lists)])
    assert made.exit_code == 0, made.output

    def verify(*options):
        return CliRunner().invoke(main, ["verify", str(fixture), "--strategy", "bal", "--workers", "2",
                                         "--min-parallel-txs", "2", "--hints", str(lists), *options])

    assert verify().exit_code == 0
    # the Cancun test's first block: one transaction, a beacon root stored at 0, a withdrawal paid at 2
    path = next(p for p in lists.glob("1-*.rlp")
                if any(i == 0 for a in decode(p.read_bytes()).accounts for _, ch in a.storage_changes for i, _ in ch))
    exact = path.read_bytes()

    def bumped(access_list, index):  # each change at ``index`` one higher
        def up(changes):
            return tuple((i, v + 1 if i == index else v) for i, v in changes)
        return BlockAccessList(tuple(replace(a, balance_changes=up(a.balance_changes), storage_changes=tuple(
            (slot, up(ch)) for slot, ch in a.storage_changes)) for a in access_list.accounts))

    for index, phase in ((0, "the pre-block system calls"), (2, "withdrawals, rewards and post-block system calls")):
        path.write_bytes(bumped(decode(exact), index).encode())
        result = verify()
        assert result.exit_code == 1 and f"invalid access list: at index {index} ({phase}) the list says" in result.output
        assert verify("--fallback").exit_code == 0
