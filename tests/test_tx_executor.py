"""Read and write sets of the EVM adapter (parexec.evm.tx_executor) on hand-built cases.

Every case runs a real signed transaction through py-evm on a MemoryState (or an
OverlayState over one) and checks the exact write set and the reads that matter.
Gas figures in comments are the EIP-2929/2200/3529 schedule, worked out by hand.
Credits to any existing account (the fee paid to the coinbase, value received by a
recipient) are BALANCE_DELTA writes unless the transaction observes that balance or
created the account (sections 14 and 15, and parexec.model).
"""

from __future__ import annotations

import copy

import pytest
from eth.vm.forks import CancunVM, HomesteadVM, ShanghaiVM
from eth_hash.auto import keccak

from evm_helpers import (
    BASE_FEE,
    GAS_PRICE,
    LEGACY_GAS_PRICE,
    MAX_FEE,
    TIP,
    addr,
    address_of,
    as_int,
    asm,
    create2_address,
    create_address,
    initcode,
    key,
    make_block,
    make_env,
    sign_tx,
    stock_pyevm_state,
)
from parexec.block.env import BlockEnv
from parexec.block.pipeline import execute_block
from parexec.evm.recording_account_db import RecordingAccountDB
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction, max_cost
from parexec.model import (
    BALANCE,
    BALANCE_DELTA,
    BALANCE_FLOOR,
    CODE,
    EMPTY_CODE_HASH,
    EXISTS,
    HAS_STORAGE,
    NONCE,
    STORAGE,
    STORAGE_RESET,
    BlockRejected,
    Log,
)
from parexec.state.memory import MemoryState
from parexec.state.overlay import OverlayState
from parexec.state.view import read_value
from parexec.strategies import get_strategy
from parexec.strategies.serial import SerialStrategy

K1, K2 = key(1), key(2)
S1, S2 = address_of(K1), address_of(K2)
COINBASE = addr(0xC0)
CB_BALANCE = 1
RICH = 10**18
C = addr(0xCC)  # the contract under test
E = addr(0xEE)  # an existing EOA
E2 = addr(0xE2)  # another existing EOA
NEW = addr(0x99)  # an address absent from every pre-state
BENEFICIARY = addr(0xBB)
FACTORY = addr(0xFF)

KNOWN_KINDS = {
    BALANCE, NONCE, CODE, EXISTS, STORAGE, STORAGE_RESET, HAS_STORAGE, BALANCE_DELTA, BALANCE_FLOOR,
}

ALL_FORKS = [HomesteadVM, ShanghaiVM, CancunVM]


def prices(vm):
    """(effective gas price, tip to the coinbase) of transactions built by sign_tx."""
    return (LEGACY_GAS_PRICE, LEGACY_GAS_PRICE) if vm is HomesteadVM else (GAS_PRICE, TIP)


def base_state(**sender_kw) -> MemoryState:
    pre = MemoryState()
    pre.set_account(S1, balance=RICH, **sender_kw)
    pre.set_account(S2, balance=RICH)
    pre.set_account(COINBASE, balance=CB_BALANCE)
    return pre


def run(vm, view, tx, index=0):
    return execute_transaction(make_env(vm, COINBASE), view, tx, index)


def fee_writes(vm, result, sender=S1, value=0, nonce=0, balance=RICH, observed=False):
    """The sender and coinbase writes every transaction makes.

    The fee is credited to the coinbase as a delta (parexec.model, fee deltas): this
    also checks that the transaction did not read the coinbase balance, which a
    delta write must never come with. The sender's payment is a negative delta
    covered by a balance floor, unless the transaction ``observed`` the sender's
    balance (then it is an absolute write).
    """
    price, tip = prices(vm)
    assert (BALANCE, COINBASE) not in result.reads
    paid = result.gas_used * price + value
    if observed:
        assert (BALANCE, sender) in result.reads
        sender_balance = {(BALANCE, sender): balance - paid}
    else:
        assert (BALANCE, sender) not in result.reads
        assert any(loc[:2] == (BALANCE_FLOOR, sender) for loc in result.reads)
        sender_balance = {(BALANCE_DELTA, sender): -paid}
    return {
        (NONCE, sender): nonce + 1,
        **sender_balance,
        (BALANCE_DELTA, COINBASE): result.gas_used * tip,
    }


def call_code(to: bytes, value: int, gas: int = 50_000) -> bytes:
    """CALL(gas, to, value, 0, 0, 0, 0), leaving the success flag on the stack."""
    return asm(0, 0, 0, 0, value, to, gas, "CALL")


def storage_reads(result, address):
    return {loc[2]: v for loc, v in result.reads.items() if loc[0] == STORAGE and loc[1] == address}


def storage_writes(result, address):
    return {loc[2]: v for loc, v in result.writes.items() if loc[0] == STORAGE and loc[1] == address}


def assert_well_formed(result):
    """Invariants of every result: known kinds only, HAS_STORAGE never written,
    STORAGE_RESET and BALANCE_DELTA never read, EXISTS=False never combined with
    other writes, a BALANCE_DELTA is positive or covered by a balance floor, never
    beside an absolute BALANCE write of the same account and never with a read of
    that balance."""
    assert {loc[0] for loc in result.reads} <= KNOWN_KINDS - {STORAGE_RESET, BALANCE_DELTA}
    assert {loc[0] for loc in result.writes} <= KNOWN_KINDS - {HAS_STORAGE, BALANCE_FLOOR}
    for loc, v in result.writes.items():
        if loc[0] == BALANCE_DELTA:
            assert isinstance(v, int) and v != 0, (loc, v)
            if v < 0:
                floors = [f[2] for f in result.reads if f[:2] == (BALANCE_FLOOR, loc[1])]
                assert floors and max(floors) >= -v, (loc, v, floors)
            assert (BALANCE, loc[1]) not in result.writes, loc
            assert (BALANCE, loc[1]) not in result.reads, loc
    for loc, v in result.writes.items():
        if loc[0] == EXISTS and v is False:
            others = [w for w in result.writes if w[1] == loc[1] and w != loc]
            assert others == [], others
    for loc, v in result.writes.items():
        if loc[0] == CODE and v != EMPTY_CODE_HASH:
            assert keccak(result.new_code[v]) == v


# --------------------------------------------------------------------- 1. SLOAD/SSTORE

SLOAD0_SSTORE1 = asm(0, "SLOAD", 1, "SSTORE", "STOP")  # slot1 = slot0


def test_sload_sstore_reads_and_writes():
    pre = base_state()
    pre.set_account(C, nonce=1, code=SLOAD0_SSTORE1, storage={0: 5})
    tx = sign_tx(CancunVM, K1, 0, C)
    r = run(CancunVM, pre, tx)

    assert r.success and r.error is None
    # 21000 + PUSH1 + cold SLOAD 2100 + PUSH1 + cold SSTORE 0->5 (2100 + 20000)
    assert r.gas_used == 21000 + 3 + 2100 + 3 + 22100
    assert r.reads[(STORAGE, C, 0)] == 5
    assert r.reads[(STORAGE, C, 1)] == 0  # SSTORE's original value (EIP-2200)
    # the sender's balance is only checked to cover the cost (a floor), not read
    assert r.reads[(NONCE, S1)] == 0 and (BALANCE, S1) not in r.reads
    assert r.reads[(BALANCE_FLOOR, S1, max_cost(tx))] is True
    assert r.reads[(CODE, C)] == keccak(SLOAD0_SSTORE1)
    assert storage_reads(r, C) == {0: 5, 1: 0}
    assert r.writes == {
        (STORAGE, C, 1): 5,
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * (BASE_FEE + TIP)),
        (BALANCE_DELTA, COINBASE): TIP * r.gas_used,
    }
    # the fee is a delta: the coinbase balance is not read, only its existence
    assert (BALANCE, COINBASE) not in r.reads
    assert r.reads[(EXISTS, COINBASE)] is True
    assert (STORAGE, C, 0) not in r.writes
    assert r.new_code == {} and r.created == () and r.destroyed == ()
    assert r.index == 0 and r.logs == ()
    assert_well_formed(r)


def test_coinbase_absent_from_view_is_created_with_the_fee():
    pre = base_state()
    del pre.accounts[COINBASE], pre.slots[COINBASE]
    pre.set_account(C, nonce=1, code=SLOAD0_SSTORE1, storage={0: 5})
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, C))
    assert r.reads[(EXISTS, COINBASE)] is False
    assert r.writes[(EXISTS, COINBASE)] is True
    assert r.writes[(BALANCE, COINBASE)] == TIP * r.gas_used
    # a new account is written exactly, never as a delta; its (zero) balance was read
    assert (BALANCE_DELTA, COINBASE) not in r.writes
    assert r.reads[(BALANCE, COINBASE)] == 0
    assert r.writes[(NONCE, COINBASE)] == 0
    assert r.writes[(CODE, COINBASE)] == EMPTY_CODE_HASH
    assert COINBASE in r.created


def test_log_is_reported_and_index_kept():
    code = asm(0xAB, 0, "MSTORE8", 0x77, 1, 0, "LOG1", "STOP")
    pre = base_state()
    pre.set_account(C, nonce=1, code=code)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, C), index=7)
    assert r.index == 7
    assert r.logs == (Log(C, (0x77,), b"\xab"),)
    # logs and memory do not touch the state
    assert r.writes == fee_writes(CancunVM, r)


@pytest.mark.parametrize(
    "vm, expected_gas",
    [
        # 21000 + 4 PUSH1 + 2 x SSTORE x->0 (2100 + 2900), refund 2 x 4800 capped at 1/5
        (CancunVM, 31012 - 31012 // 5),
        (ShanghaiVM, 31012 - 31012 // 5),
        # 21000 + 4 PUSH1 + 2 x 5000, refund 2 x 15000 capped at 1/2
        (HomesteadVM, 31012 - 31012 // 2),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_refund_is_reflected_in_gas_used_and_balances(vm, expected_gas):
    pre = base_state()
    pre.set_account(C, nonce=1, code=asm(0, 0, "SSTORE", 0, 1, "SSTORE"), storage={0: 1, 1: 2})
    r = run(vm, pre, sign_tx(vm, K1, 0, C))
    assert r.success
    assert r.gas_used == expected_gas
    assert r.writes == {(STORAGE, C, 0): 0, (STORAGE, C, 1): 0, **fee_writes(vm, r)}
    assert storage_reads(r, C) == {0: 1, 1: 2}


def test_zero_tip_does_not_create_absent_coinbase():
    pre = base_state()
    del pre.accounts[COINBASE], pre.slots[COINBASE]
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, E, value=1, gas=21000, tip=0, max_fee=BASE_FEE))
    assert r.reads[(EXISTS, COINBASE)] is False
    assert not any(loc[1] == COINBASE for loc in r.writes)
    assert r.writes[(BALANCE_DELTA, S1)] == -(1 + 21000 * BASE_FEE)
    assert r.created == (E,)


def test_sender_is_coinbase():
    pre = base_state()
    env = make_env(CancunVM, S1)
    r = execute_transaction(env, pre, sign_tx(CancunVM, K1, 0, E, value=1000, gas=21000), 0)
    assert r.writes[(BALANCE_DELTA, S1)] == -(1000 + 21000 * GAS_PRICE - 21000 * TIP)
    assert r.writes[(NONCE, S1)] == 1
    assert (BALANCE, COINBASE) not in r.writes
    # the coinbase as sender: its payment and its fee income are one net delta
    assert (BALANCE, S1) not in r.reads and (BALANCE, S1) not in r.writes


def test_transfer_to_self_only_pays_the_fee():
    pre = base_state()
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, S1, value=1000, gas=21000))
    assert r.writes == fee_writes(CancunVM, r)


# --------------------------------------------------------------- 2. write then read


def test_sload_after_own_sstore_sees_own_value_and_keeps_view_value_in_reads():
    # slot0 = 7; slot1 = SLOAD(slot0)
    code = asm(7, 0, "SSTORE", 0, "SLOAD", 1, "SSTORE", "STOP")
    pre = base_state()
    pre.set_account(C, nonce=1, code=code, storage={0: 5})
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, C))
    assert r.success
    # SSTORE 5->7 cold: 2100 + 2900; SLOAD warm 100; SSTORE 0->7 cold: 22100
    assert r.gas_used == 21000 + 6 + 5000 + 3 + 100 + 3 + 22100
    # the SLOAD saw the tx's own 7, not the view's 5 ...
    assert storage_writes(r, C) == {0: 7, 1: 7}
    # ... and the only read of slot 0 is SSTORE's original-value read, with the
    # view's value: the tx's own write never leaks into the read set
    assert r.reads[(STORAGE, C, 0)] == 5
    assert storage_reads(r, C) == {0: 5, 1: 0}


def test_storage_of_a_fresh_contract_is_read_from_its_own_writes():
    # constructor: slot0 = 7; slot1 = SLOAD(slot0); runtime: STOP
    init = initcode(b"\x00", asm(7, 0, "SSTORE", 0, "SLOAD", 1, "SSTORE"))
    pre = base_state()
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, b"", data=init))
    new = create_address(S1, 0)
    assert r.success
    assert storage_writes(r, new) == {0: 7, 1: 7}
    # the new account had no storage before (EIP-7610 check), so nothing read could be non-zero
    assert r.reads[(HAS_STORAGE, new)] is False
    assert all(v == 0 for v in storage_reads(r, new).values())


def test_recording_db_read_after_write_records_no_read():
    pre = MemoryState()
    pre.set_account(C, nonce=1, storage={0: 5, 1: 6})
    db = RecordingAccountDB(pre)
    db.set_storage(C, 0, 7)
    assert db.get_storage(C, 0) == 7
    assert (STORAGE, C, 0) not in db.reads
    assert db.get_storage(C, 1) == 6
    assert db.reads == {(STORAGE, C, 1): 6}
    # balance: written (after the existence check) then read back without a BALANCE read
    db.set_balance(E, 9)
    assert db.get_balance(E) == 9
    assert (BALANCE, E) not in db.reads
    assert db.reads[(EXISTS, E)] is False


# ---------------------------------------------------------------------- 3. CALL


def test_call_with_value_and_zero_value_calls():
    code = (
        call_code(E, 100) + asm("POP")
        + call_code(E2, 0) + asm("POP")
        + call_code(NEW, 0) + asm("POP", "STOP")
    )
    pre = base_state()
    pre.set_account(E, balance=3)
    pre.set_account(E2, balance=4)
    pre.set_account(C, nonce=1, balance=1000, code=code)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, C))
    assert r.success
    # three calls to cold addresses (2600 each), value 9000 minus the 2300 stipend returned
    assert r.gas_used == 21000 + 3 * (7 * 3 + 2600 + 2) + 9000 - 2300
    assert r.writes == {
        (BALANCE, C): 900,
        (BALANCE, E): 103,
        **fee_writes(CancunVM, r),
    }
    # the callees were looked at: existence is a read
    assert r.reads[(EXISTS, E2)] is True
    assert r.reads[(EXISTS, NEW)] is False
    assert r.reads[(BALANCE, C)] == 1000 and r.reads[(BALANCE, E)] == 3
    assert not any(loc[1] in (E2, NEW) for loc in r.writes)
    assert r.created == ()


def test_zero_value_call_to_empty_existing_account_deletes_it_post_spurious_dragon():
    pre = base_state()
    pre.set_account(E)  # exists, but empty (EIP-161)
    pre.set_account(C, nonce=1, code=call_code(E, 0) + asm("POP", "STOP"))
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, C))
    assert r.writes == {(EXISTS, E): False, **fee_writes(CancunVM, r)}
    assert r.destroyed == (E,)


def test_touching_absent_account_creates_it_before_spurious_dragon():
    code = call_code(NEW, 0) + asm("POP", "STOP")
    for vm, expect_created in ((HomesteadVM, True), (CancunVM, False)):
        pre = base_state()
        pre.set_account(C, code=code)
        r = run(vm, pre, sign_tx(vm, K1, 0, C))
        assert r.success
        new_writes = {loc: v for loc, v in r.writes.items() if loc[1] == NEW}
        if expect_created:
            assert new_writes == {
                (EXISTS, NEW): True, (NONCE, NEW): 0, (BALANCE, NEW): 0,
                (CODE, NEW): EMPTY_CODE_HASH,
            }
            assert r.created == (NEW,)
        else:
            assert new_writes == {}
            assert r.created == ()
        assert r.writes == {**new_writes, **fee_writes(vm, r)}


# ---------------------------------------------------------------- 4. plain transfer


@pytest.mark.parametrize("vm", ALL_FORKS, ids=lambda v: v.__name__)
def test_plain_transfer_to_new_account(vm):
    pre = base_state()
    r = run(vm, pre, sign_tx(vm, K1, 0, NEW, value=5, gas=21000))
    assert r.success and r.gas_used == 21000
    assert r.reads[(EXISTS, NEW)] is False
    assert r.writes == {
        (EXISTS, NEW): True,
        (BALANCE, NEW): 5,
        (NONCE, NEW): 0,
        (CODE, NEW): EMPTY_CODE_HASH,
        **fee_writes(vm, r, value=5),
    }
    assert r.created == (NEW,)
    assert_well_formed(r)


def test_plain_transfer_to_existing_account_writes_only_its_balance():
    # the value received is a credit (a delta): the recipient's balance is never read,
    # only its existence (and its code, to run it); nonce and code are not written
    pre = base_state()
    pre.set_account(E, nonce=4, balance=3)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, E, value=5, gas=21000))
    assert r.writes == {(BALANCE_DELTA, E): 5, **fee_writes(CancunVM, r, value=5)}
    assert {loc: v for loc, v in r.reads.items() if loc[1] == E} == {
        (EXISTS, E): True, (CODE, E): EMPTY_CODE_HASH,
    }
    assert r.created == ()
    assert_well_formed(r)
    state = OverlayState(pre)
    state.apply(r.writes, r.new_code)
    assert (state.account(E).nonce, state.account(E).balance) == (4, 8)


def test_zero_value_transfer_to_existing_account_writes_nothing_for_it():
    pre = base_state()
    pre.set_account(E, balance=3)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, E, value=0, gas=21000))
    assert r.writes == fee_writes(CancunVM, r)


# ------------------------------------------------------------------- 5. CREATE/CREATE2

RUNTIME = asm(42, 0, "MSTORE", 32, 0, "RETURN")  # returns 42
INIT = initcode(RUNTIME, asm(7, 0, "SSTORE"))  # constructor stores slot0 = 7
SALT = 0x1234
# initcode comes in as calldata: slot0 = CREATE(initcode); slot1 = CREATE2(initcode, SALT)
FACTORY_CODE = asm(
    "CALLDATASIZE", 0, 0, "CALLDATACOPY",
    "CALLDATASIZE", 0, 0, "CREATE", 0, "SSTORE",
    SALT, "CALLDATASIZE", 0, 0, "CREATE2", 1, "SSTORE", "STOP",
)


def test_create_and_create2_from_factory():
    pre = base_state()
    pre.set_account(FACTORY, nonce=1, code=FACTORY_CODE)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, FACTORY, data=INIT, gas=500_000))
    assert r.success
    a1 = create_address(FACTORY, 1)
    a2 = create2_address(FACTORY, SALT, INIT)
    code_hash = keccak(RUNTIME)
    expected = {
        (NONCE, FACTORY): 3,
        (STORAGE, FACTORY, 0): as_int(a1),
        (STORAGE, FACTORY, 1): as_int(a2),
        **fee_writes(CancunVM, r),
    }
    for a in (a1, a2):
        expected.update({
            (EXISTS, a): True, (NONCE, a): 1, (BALANCE, a): 0, (CODE, a): code_hash,
            (STORAGE, a, 0): 7,
        })
        assert r.reads[(EXISTS, a)] is False
        assert r.reads[(HAS_STORAGE, a)] is False  # EIP-7610 check
    assert r.writes == expected
    assert r.new_code == {code_hash: RUNTIME}
    assert set(r.created) == {a1, a2} and len(r.created) == 2
    assert r.destroyed == ()
    assert (STORAGE_RESET, a1) not in r.writes and (STORAGE_RESET, a2) not in r.writes
    assert_well_formed(r)


def test_create_with_endowment_moves_value():
    factory = asm("CALLDATASIZE", 0, 0, "CALLDATACOPY", "CALLDATASIZE", 0, 500, "CREATE", 0, "SSTORE")
    pre = base_state()
    pre.set_account(FACTORY, nonce=1, balance=600, code=factory)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, FACTORY, data=INIT, gas=500_000))
    a = create_address(FACTORY, 1)
    assert r.writes[(BALANCE, a)] == 500
    assert r.writes[(BALANCE, FACTORY)] == 100


def test_create_transaction_new_code():
    pre = base_state()
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, b"", data=initcode(RUNTIME), gas=200_000))
    a = create_address(S1, 0)
    assert r.success
    assert r.writes == {
        (EXISTS, a): True, (NONCE, a): 1, (BALANCE, a): 0, (CODE, a): keccak(RUNTIME),
        **fee_writes(CancunVM, r),
    }
    assert r.new_code == {keccak(RUNTIME): RUNTIME}
    assert r.created == (a,)


def test_create_before_spurious_dragon_leaves_nonce_zero():
    factory = asm("CALLDATASIZE", 0, 0, "CALLDATACOPY", "CALLDATASIZE", 0, 0, "CREATE", 0, "SSTORE")
    pre = base_state()
    pre.set_account(FACTORY, nonce=0, code=factory)
    r = run(HomesteadVM, pre, sign_tx(HomesteadVM, K1, 0, FACTORY, data=INIT, gas=500_000))
    a = create_address(FACTORY, 0)
    assert r.success
    assert r.writes[(NONCE, FACTORY)] == 1
    assert r.writes[(EXISTS, a)] is True
    assert r.writes[(NONCE, a)] == 0
    assert r.writes[(CODE, a)] == keccak(RUNTIME)
    assert r.new_code == {keccak(RUNTIME): RUNTIME}


def test_failed_create_leaves_no_trace_of_the_new_account():
    # constructor reverts: nothing of the new account is written, the factory nonce still moves
    bad_init = asm(1, 0, "SSTORE", 0, 0, "REVERT")
    pre = base_state()
    pre.set_account(FACTORY, nonce=1, code=FACTORY_CODE, storage={0: 0xDEAD, 1: 0xBEEF})
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, FACTORY, data=bad_init, gas=500_000))
    a1 = create_address(FACTORY, 1)
    a2 = create2_address(FACTORY, SALT, bad_init)
    assert r.success
    assert r.writes == {
        (NONCE, FACTORY): 3,
        (STORAGE, FACTORY, 0): 0,
        (STORAGE, FACTORY, 1): 0,
        **fee_writes(CancunVM, r),
    }
    assert r.created == () and r.new_code == {}
    assert r.reads[(EXISTS, a1)] is False and r.reads[(EXISTS, a2)] is False


# ------------------------------------------------------------------ 6. SELFDESTRUCT

SELFDESTRUCT_CODE = asm(BENEFICIARY, "SELFDESTRUCT")


def _selfdestruct_state():
    pre = base_state()
    pre.set_account(BENEFICIARY, balance=50)
    pre.set_account(C, nonce=1, balance=1000, code=SELFDESTRUCT_CODE, storage={0: 1})
    return pre


def test_selfdestruct_deletes_account_before_cancun():
    r = run(ShanghaiVM, _selfdestruct_state(), sign_tx(ShanghaiVM, K1, 0, C))
    assert r.success
    # PUSH20 + SELFDESTRUCT 5000 + cold beneficiary 2600; no refund since London
    assert r.gas_used == 21000 + 3 + 5000 + 2600
    assert r.writes == {
        (EXISTS, C): False,
        (BALANCE, BENEFICIARY): 1050,
        **fee_writes(ShanghaiVM, r),
    }
    assert r.destroyed == (C,)
    assert r.reads[(BALANCE, C)] == 1000
    assert_well_formed(r)


def test_selfdestruct_of_preexisting_contract_only_moves_balance_in_cancun():
    r = run(CancunVM, _selfdestruct_state(), sign_tx(CancunVM, K1, 0, C))
    assert r.success
    assert r.gas_used == 21000 + 3 + 5000 + 2600
    assert r.writes == {
        (BALANCE, C): 0,
        (BALANCE, BENEFICIARY): 1050,
        **fee_writes(CancunVM, r),
    }
    assert r.destroyed == ()
    assert not any(loc[1] == C and loc[0] in (EXISTS, STORAGE, STORAGE_RESET, CODE, NONCE)
                   for loc in r.writes)


def test_selfdestruct_in_same_tx_as_creation_deletes_in_cancun():
    # a creation tx with value whose constructor self-destructs: the account never appears
    pre = base_state()
    pre.set_account(BENEFICIARY, balance=50)
    tx = sign_tx(CancunVM, K1, 0, b"", value=77, data=SELFDESTRUCT_CODE, gas=100_000)
    r = run(CancunVM, pre, tx)
    a = create_address(S1, 0)
    assert r.success
    assert r.writes == {(BALANCE, BENEFICIARY): 127, **fee_writes(CancunVM, r, value=77)}
    assert r.created == () and r.destroyed == ()
    assert r.reads[(EXISTS, a)] is False


@pytest.mark.parametrize("vm", ALL_FORKS, ids=lambda v: v.__name__)
def test_selfdestruct_to_itself(vm):
    pre = _selfdestruct_state()
    pre.set_account(C, nonce=1, balance=1000, code=asm(C, "SELFDESTRUCT"), storage={0: 1})
    r = run(vm, pre, sign_tx(vm, K1, 0, C))
    assert r.success
    if vm is CancunVM:  # EIP-6780: nothing happens to a pre-existing contract
        assert r.writes == fee_writes(vm, r)
        assert r.destroyed == ()
    else:  # deleted, its balance burnt
        assert r.writes == {(EXISTS, C): False, **fee_writes(vm, r)}
        assert r.destroyed == (C,)
    if vm is HomesteadVM:  # SELFDESTRUCT free, 24000 refund capped at half
        assert r.gas_used == 21003 - 21003 // 2


def test_selfdestruct_to_absent_beneficiary_creates_it():
    pre = base_state()
    pre.set_account(C, nonce=1, balance=1000, code=SELFDESTRUCT_CODE)
    r = run(ShanghaiVM, pre, sign_tx(ShanghaiVM, K1, 0, C))
    assert r.writes[(EXISTS, BENEFICIARY)] is True
    assert r.writes[(BALANCE, BENEFICIARY)] == 1000
    assert r.writes[(EXISTS, C)] is False
    assert set(r.created) == {BENEFICIARY} and r.destroyed == (C,)


# ----------------------------------------------------------------------- 7. REVERT

# SLOAD slot0; slot1 = 9; REVERT
REVERTING = asm(0, "SLOAD", "POP", 9, 1, "SSTORE", 0, 0, "REVERT")


def test_revert_discards_writes_but_keeps_reads():
    pre = base_state()
    pre.set_account(C, nonce=1, balance=10, code=REVERTING, storage={0: 5})
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, C, value=1000))
    assert not r.success and r.error is not None
    # all the gas used up to the REVERT is charged; the rest is returned
    assert r.gas_used == 21000 + 3 + 2100 + 2 + 6 + 22100 + 6
    assert r.reads[(STORAGE, C, 0)] == 5
    assert r.reads[(STORAGE, C, 1)] == 0
    # the storage write and the value transfer are gone; the fee is not
    assert r.writes == fee_writes(CancunVM, r)
    assert r.logs == ()


def test_reverted_inner_call_discards_only_its_own_writes():
    outer = call_code(C, 0) + asm(0, "SSTORE", 3, 5, "SSTORE", "STOP")  # slot0 = ok; slot5 = 3
    pre = base_state()
    pre.set_account(C, nonce=1, code=REVERTING, storage={0: 5})
    pre.set_account(FACTORY, nonce=1, code=outer, storage={0: 7})
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, FACTORY))
    assert r.success
    assert r.writes == {
        (STORAGE, FACTORY, 0): 0,  # CALL returned 0
        (STORAGE, FACTORY, 5): 3,
        **fee_writes(CancunVM, r),
    }
    assert storage_reads(r, C) == {0: 5, 1: 0}


def test_out_of_gas_charges_all_gas():
    pre = base_state()
    pre.set_account(C, nonce=1, code=SLOAD0_SSTORE1, storage={0: 5})
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, C, gas=30_000))
    assert not r.success
    assert r.gas_used == 30_000
    assert r.writes == fee_writes(CancunVM, r)
    assert r.reads[(STORAGE, C, 0)] == 5


# --------------------------------------------------------------- 8. transient storage

# slot1 = TLOAD(0) + 1; TSTORE(0, 42); slot2 = TLOAD(0)
TRANSIENT = asm(0, "TLOAD", 1, "ADD", 1, "SSTORE", 42, 0, "TSTORE", 0, "TLOAD", 2, "SSTORE", "STOP")


def test_transient_storage_is_invisible_and_does_not_leak():
    pre = base_state()
    pre.set_account(C, nonce=1, code=TRANSIENT)
    state = OverlayState(pre)
    env = make_env(CancunVM, COINBASE)

    r1 = execute_transaction(env, state, sign_tx(CancunVM, K1, 0, C), 0)
    assert r1.success
    assert storage_writes(r1, C) == {1: 1, 2: 42}
    assert storage_reads(r1, C) == {1: 0, 2: 0}
    state.apply(r1.writes, r1.new_code)

    r2 = execute_transaction(env, state, sign_tx(CancunVM, K1, 1, C), 1)
    assert r2.success
    # TLOAD(0) is 0 again: slot1 = 1 and slot2 = 42 rewrite their current values (no-ops)
    assert storage_reads(r2, C) == {1: 1, 2: 42}
    assert storage_writes(r2, C) == {}
    assert r2.gas_used == r1.gas_used - 2 * (22100 - 2200)  # 0->x became x->x (2100 + 100)
    for r in (r1, r2):
        assert (STORAGE, C, 0) not in r.reads and (STORAGE, C, 0) not in r.writes
        assert_well_formed(r)


# -------------------------------------------------------------- 9. warm/cold per tx

DOUBLE_SLOAD = asm(0, "SLOAD", "POP", 0, "SLOAD", "POP", "STOP")


def test_warm_set_does_not_survive_the_transaction():
    pre = base_state()
    pre.set_account(C, nonce=1, code=DOUBLE_SLOAD, storage={0: 5})
    state = OverlayState(pre)
    env = make_env(CancunVM, COINBASE)
    gases = []
    for nonce in range(3):
        r = execute_transaction(env, state, sign_tx(CancunVM, K1, nonce, C), nonce)
        state.apply(r.writes, r.new_code)
        gases.append(r.gas_used)
    # cold SLOAD (2100) then warm (100) in every transaction
    assert gases == [21000 + 3 + 2100 + 2 + 3 + 100 + 2] * 3


def test_cold_account_access_costs_cold_in_each_transaction():
    code = asm(E, "BALANCE", "POP", E, "BALANCE", "POP", "STOP")
    pre = base_state()
    pre.set_account(E, balance=1)
    pre.set_account(C, nonce=1, code=code)
    state = OverlayState(pre)
    env = make_env(CancunVM, COINBASE)
    for nonce in range(2):
        r = execute_transaction(env, state, sign_tx(CancunVM, K1, nonce, C), nonce)
        state.apply(r.writes, r.new_code)
        assert r.gas_used == 21000 + 3 + 2600 + 2 + 3 + 100 + 2
        assert r.reads[(BALANCE, E)] == 1


def test_warm_slot_of_reverted_call_is_forgotten():
    # Outer calls the callee twice; the callee SLOADs slot 0. If the callee reverts,
    # its warm slot is forgotten (EIP-2929), so the second SLOAD is cold again.
    outer = call_code(C, 0) + asm("POP") + call_code(C, 0) + asm("POP", "STOP")
    gas = {}
    for name, callee in (
        ("stop", asm(0, "SLOAD", "POP", "STOP")),
        ("revert", asm(0, "SLOAD", "POP", 0, 0, "REVERT")),
    ):
        pre = base_state()
        pre.set_account(C, nonce=1, code=callee, storage={0: 5})
        pre.set_account(FACTORY, nonce=1, code=outer)
        r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, FACTORY))
        assert r.success
        assert r.writes == fee_writes(CancunVM, r)
        gas[name] = r.gas_used
    # second SLOAD: 2100 instead of 100; plus 2 x (PUSH1 0, PUSH1 0) before REVERT
    assert gas["revert"] - gas["stop"] == 2000 + 2 * 6


# ------------------------------------------------------------ 10. view never mutated


def test_view_is_never_mutated():
    pre = base_state()
    pre.set_account(E, balance=3)
    pre.set_account(BENEFICIARY, balance=50)
    pre.set_account(C, nonce=1, balance=1000, code=SELFDESTRUCT_CODE, storage={0: 1})
    pre.set_account(FACTORY, nonce=1, code=FACTORY_CODE, storage={0: 0xDEAD})
    rev = addr(0x7E)
    pre.set_account(rev, nonce=1, code=REVERTING, storage={0: 5})
    tr = addr(0x7F)
    pre.set_account(tr, nonce=1, code=TRANSIENT, storage={1: 3})
    snapshot = copy.deepcopy((pre.accounts, pre.slots, pre.codes, pre.complete))

    txs = [
        (ShanghaiVM, sign_tx(ShanghaiVM, K1, 0, C)),
        (CancunVM, sign_tx(CancunVM, K1, 0, C)),
        (CancunVM, sign_tx(CancunVM, K1, 0, FACTORY, data=INIT, gas=500_000)),
        (CancunVM, sign_tx(CancunVM, K1, 0, rev, value=5)),
        (CancunVM, sign_tx(CancunVM, K1, 0, tr)),
        (CancunVM, sign_tx(CancunVM, K1, 0, NEW, value=5, gas=21000)),
        (HomesteadVM, sign_tx(HomesteadVM, K1, 0, E, value=1, gas=21000)),
    ]
    results = [run(vm, pre, tx) for vm, tx in txs]
    assert all(r.writes for r in results)
    assert (pre.accounts, pre.slots, pre.codes, pre.complete) == snapshot
    # and the overlay's base is not mutated either
    state = OverlayState(pre)
    state.apply(results[2].writes, results[2].new_code)
    run(CancunVM, state, sign_tx(CancunVM, K1, 1, FACTORY, data=INIT, gas=500_000))
    assert (pre.accounts, pre.slots, pre.codes, pre.complete) == snapshot


# ------------------------------------------------------------ 11. invalid transactions


def _invalid_cases():
    gas = 50_000
    yield "nonce too high", CancunVM, {}, dict(nonce=1, to=E, gas=gas)
    yield "nonce too low", CancunVM, dict(nonce=3), dict(nonce=2, to=E, gas=gas)
    yield "cannot pay max fee", CancunVM, dict(balance=gas * MAX_FEE + 5 - 1), dict(
        nonce=0, to=E, value=5, gas=gas)
    # py-evm alone checks gas * effective price (9) before Cancun; the specs use the fee cap (100)
    yield "cannot pay max fee (Shanghai)", ShanghaiVM, dict(balance=gas * MAX_FEE - 1), dict(
        nonce=0, to=E, gas=gas)
    yield "max fee below base fee", CancunVM, {}, dict(
        nonce=0, to=E, gas=gas, max_fee=BASE_FEE - 1, tip=1)
    yield "sender has code (EIP-3607)", CancunVM, dict(code=b"\x00"), dict(nonce=0, to=E, gas=gas)
    yield "legacy cannot pay gas", HomesteadVM, dict(balance=gas * LEGACY_GAS_PRICE - 1), dict(
        nonce=0, to=E, gas=gas)
    yield "legacy nonce", HomesteadVM, {}, dict(nonce=1, to=E, gas=gas)


@pytest.mark.parametrize(
    "vm, sender_kw, tx_kw", [c[1:] for c in _invalid_cases()], ids=[c[0] for c in _invalid_cases()]
)
def test_invalid_transaction_raises(vm, sender_kw, tx_kw):
    sender_kw = {"balance": RICH, **sender_kw}
    pre = MemoryState()
    pre.set_account(S1, **sender_kw)
    pre.set_account(E, balance=1)
    snapshot = copy.deepcopy((pre.accounts, pre.slots))
    tx_kw = dict(tx_kw)
    tx = sign_tx(vm, K1, tx_kw.pop("nonce"), tx_kw.pop("to"), **tx_kw)
    with pytest.raises(InvalidTransaction):
        run(vm, pre, tx)
    assert (pre.accounts, pre.slots) == snapshot


def test_a_legacy_signature_is_checked_by_one_recovery_that_gives_the_sender(monkeypatch):
    """py-evm checked a legacy signature by recovering the key and verifying with
    it, then recovered the sender again (evm.pyevm_patches): one recovery now
    does both, and no verification is made."""
    import coincurve.keys

    recovered, verified = [], []
    recover = coincurve.keys.PublicKey.from_signature_and_message.__func__
    monkeypatch.setattr(coincurve.keys.PublicKey, "from_signature_and_message",
                        classmethod(lambda cls, *a, **k: recovered.append(1) or recover(cls, *a, **k)))
    monkeypatch.setattr(coincurve.keys.PublicKey, "verify", lambda *a, **k: verified.append(1) or True)
    tx = sign_tx(HomesteadVM, K1, 0, NEW, value=5, gas=21000)
    assert run(HomesteadVM, base_state(), tx).success
    assert (len(recovered), verified, tx.sender) == (1, [], S1)


def test_a_sender_given_stays_through_the_signature_check():
    """A transaction whose sender is given (a dump's, without a real signature:
    pyevm_objects.set_known_sender) keeps it: the check recovers some key, as
    py-evm's did, but does not replace the sender."""
    from parexec.evm.pyevm_objects import set_known_sender

    tx = sign_tx(HomesteadVM, K2, 0, NEW, value=5, gas=21000)
    set_known_sender(tx, S1)
    assert run(HomesteadVM, base_state(), tx).success
    assert tx.sender == S1


def test_a_legacy_signature_no_key_comes_from_is_invalid():
    """An r that is no point's x coordinate: no key can be recovered, so the
    transaction is invalid (as py-evm's check had it), and names the signature."""
    p = 2**256 - 2**32 - 977  # secp256k1's field
    r = next(x for x in range(1, 100) if pow(x**3 + 7, (p - 1) // 2, p) != 1)
    tx = sign_tx(HomesteadVM, K1, 0, NEW, value=5, gas=21000).copy(r=r)
    with pytest.raises(InvalidTransaction, match="Bad Signature"):
        run(HomesteadVM, base_state(), tx)


def test_block_with_tip_above_max_fee_is_rejected():
    # EIP-1559: max_priority_fee_per_gas > max_fee_per_gas makes the transaction invalid
    # (a stateless check, so either the executor or the block's checks must catch it).
    pre = base_state()
    pre.set_account(E, balance=1)
    tx = sign_tx(CancunVM, K1, 0, E, gas=50_000, max_fee=8, tip=9)
    with pytest.raises((BlockRejected, InvalidTransaction)):
        execute_block(make_block(CancunVM, [tx], COINBASE), pre, SerialStrategy())


def test_invalid_transaction_rejects_the_block():
    pre = base_state()
    txs = [sign_tx(CancunVM, K1, 0, E, gas=21000), sign_tx(CancunVM, K1, 5, E, gas=21000)]
    with pytest.raises(BlockRejected) as info:
        execute_block(make_block(CancunVM, txs, COINBASE), pre, SerialStrategy())
    assert info.value.tx_index == 1


def test_balance_exactly_enough_is_valid():
    gas = 50_000
    pre = MemoryState()
    pre.set_account(S1, balance=gas * MAX_FEE + 5)
    pre.set_account(E, balance=1)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, E, value=5, gas=gas))
    assert r.success
    assert r.writes[(BALANCE_DELTA, S1)] == -(5 + 21000 * GAS_PRICE)
    assert r.reads[(BALANCE_FLOOR, S1, gas * MAX_FEE + 5)] is True


def test_absent_sender_is_invalid():
    pre = MemoryState()
    with pytest.raises(InvalidTransaction):
        run(CancunVM, pre, sign_tx(CancunVM, K1, 0, E, gas=21000))


def test_balance_one_short_is_invalid_and_records_the_failed_floor():
    gas = 50_000
    pre = MemoryState()
    pre.set_account(S1, balance=gas * MAX_FEE + 4)
    with pytest.raises(InvalidTransaction, match="balance"):
        run(CancunVM, pre, sign_tx(CancunVM, K1, 0, E, value=5, gas=gas))


# Balance floors (parexec.model): a sender's balance is only checked to cover the
# cost, then debited by a delta, unless the transaction observes it.

STORE_ORIGIN_BALANCE = asm("ORIGIN", "BALANCE", 0, "SSTORE", "STOP")


@pytest.mark.parametrize("value", [0, 5])
def test_sender_balance_observed_by_code_is_exact(value):
    pre = base_state()
    pre.set_account(C, nonce=1, code=STORE_ORIGIN_BALANCE)
    tx = sign_tx(CancunVM, K1, 0, C, value=value, gas=100_000)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    # BALANCE(ORIGIN) sees the balance after gas was bought and the value sent:
    # the exact view value is read (the upfront check's assumption was not reused)
    assert r.reads[(BALANCE, S1)] == RICH
    assert storage_writes(r, C) == {0: RICH - 100_000 * GAS_PRICE - value}
    assert r.writes == fee_writes(CancunVM, r, value=value, observed=True) | (
        {(STORAGE, C, 0): RICH - 100_000 * GAS_PRICE - value}
        | ({(BALANCE_DELTA, C): value} if value else {})
    )
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, C, COINBASE], [(C, 0)])


def test_payouts_of_one_sender_speculated_on_the_pre_state_stay_valid():
    """Txs 1 and 2 of one sender, run on the pre-state with the nonce predicted,
    read only the nonce they carry and a floor of the balance: both still hold
    after the earlier payouts commit, so the speculation is accepted as it is."""
    pre = base_state()
    txs = [sign_tx(CancunVM, K1, n, addr(0x100 + n), value=10**15, gas=21000) for n in range(3)]
    env = make_env(CancunVM, COINBASE)
    speculative = [execute_transaction(env, pre, tx, i, predict=True) for i, tx in enumerate(txs)]
    state, serial = run_in_order(CancunVM, pre, txs)
    committed = OverlayState(pre)
    for spec, exact in zip(speculative, serial):
        assert all(read_value(committed, loc) == seen for loc, seen in spec.reads.items())
        assert spec.writes == exact.writes and spec.reads == exact.reads
        committed.apply(spec.writes, spec.new_code)
    assert speculative[2].reads[(NONCE, S1)] == 2
    assert committed.diff() == state.diff()
    assert_matches_stock_pyevm(CancunVM, pre, txs, state, [S1, COINBASE, addr(0x102)])


def test_predicted_nonce_that_is_wrong_fails_validation():
    pre = base_state()
    env = make_env(CancunVM, COINBASE)
    r = execute_transaction(env, pre, sign_tx(CancunVM, K1, 1, E, gas=21000), 0, predict=True)
    assert r.reads[(NONCE, S1)] == 1
    assert read_value(pre, (NONCE, S1)) == 0  # validation rejects it; exact execution
    with pytest.raises(InvalidTransaction, match="nonce"):  # then finds the tx invalid
        execute_transaction(env, pre, sign_tx(CancunVM, K1, 1, E, gas=21000), 0)


def test_floor_that_later_payouts_break_is_caught_by_validation():
    """The floor read on the pre-state holds there but not after tx 0 spent most of
    the balance: validation against the committed state catches it."""
    pre = MemoryState()
    cost = 21000 * MAX_FEE + 10**15
    pre.set_account(S1, balance=cost + cost // 2)
    pre.set_account(COINBASE, balance=1)
    txs = [sign_tx(CancunVM, K1, n, addr(0x100 + n), value=10**15, gas=21000) for n in range(2)]
    env = make_env(CancunVM, COINBASE)
    second = execute_transaction(env, pre, txs[1], 1, predict=True)
    assert second.reads[(BALANCE_FLOOR, S1, cost)] is True
    committed = OverlayState(pre)
    first = execute_transaction(env, committed, txs[0], 0)
    committed.apply(first.writes, first.new_code)
    assert read_value(committed, (BALANCE_FLOOR, S1, cost)) is False
    with pytest.raises(InvalidTransaction, match="balance"):
        execute_transaction(env, committed, txs[1], 1)


# ---------------------------------------------------------------------- 12. EIP-7610

CREATE2_ONLY = asm("CALLDATASIZE", 0, 0, "CALLDATACOPY",
                   SALT, "CALLDATASIZE", 0, 0, "CREATE2", 0, "SSTORE", "STOP")


def _create2_over(target_kw):
    pre = base_state()
    pre.set_account(FACTORY, nonce=1, code=CREATE2_ONLY, storage={0: 0xDEAD})
    target = create2_address(FACTORY, SALT, INIT)
    if target_kw is not None:
        pre.set_account(target, **target_kw)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, FACTORY, data=INIT, gas=500_000))
    return r, target


def test_create2_collides_with_storage_only_account():
    r, t = _create2_over(dict(storage={3: 1}))
    assert r.success  # the outer call succeeds; CREATE2 pushes 0
    assert r.reads[(HAS_STORAGE, t)] is True
    assert r.reads[(NONCE, t)] == 0 and r.reads[(CODE, t)] == EMPTY_CODE_HASH
    assert r.writes == {
        (NONCE, FACTORY): 2,
        (STORAGE, FACTORY, 0): 0,
        **fee_writes(CancunVM, r),
    }
    assert r.created == () and r.new_code == {}


def test_create2_collides_with_nonce_without_reading_storage():
    r, t = _create2_over(dict(nonce=1))
    assert r.reads[(NONCE, t)] == 1
    assert (HAS_STORAGE, t) not in r.reads
    assert r.writes == {(NONCE, FACTORY): 2, (STORAGE, FACTORY, 0): 0, **fee_writes(CancunVM, r)}


def test_create2_over_funded_empty_account_succeeds_and_keeps_balance():
    r, t = _create2_over(dict(balance=123))
    assert r.success
    assert r.reads[(HAS_STORAGE, t)] is False
    assert r.reads[(EXISTS, t)] is True
    assert r.writes == {
        (NONCE, FACTORY): 2,
        (STORAGE, FACTORY, 0): as_int(t),
        (NONCE, t): 1,
        (CODE, t): keccak(RUNTIME),
        (STORAGE, t, 0): 7,
        **fee_writes(CancunVM, r),
    }
    assert r.created == ()  # it existed already
    assert r.new_code == {keccak(RUNTIME): RUNTIME}


def test_reverted_create2_over_funded_account_leaves_it_alone():
    # CREATE2 wipes the target's storage before running the constructor; a revert undoes it
    bad_init = asm(1, 0, "SSTORE", 0, 0, "REVERT")
    pre = base_state()
    pre.set_account(FACTORY, nonce=1, code=CREATE2_ONLY, storage={0: 0xDEAD})
    t = create2_address(FACTORY, SALT, bad_init)
    pre.set_account(t, balance=5)
    r = run(CancunVM, pre, sign_tx(CancunVM, K1, 0, FACTORY, data=bad_init, gas=500_000))
    assert r.success
    assert r.writes == {(NONCE, FACTORY): 2, (STORAGE, FACTORY, 0): 0, **fee_writes(CancunVM, r)}
    assert r.reads[(HAS_STORAGE, t)] is False


def test_create2_to_absent_address_reads_has_storage_false():
    r, t = _create2_over(None)
    assert r.reads[(HAS_STORAGE, t)] is False
    assert r.reads[(EXISTS, t)] is False
    assert r.created == (t,)


# ---------------------------------------------------------------- 13. whole pipeline


def test_serial_pipeline_state_diff_is_the_writes_applied_in_order():
    pre = base_state()
    pre.set_account(C, nonce=1, code=SLOAD0_SSTORE1, storage={0: 5})
    pre.set_account(FACTORY, nonce=1, code=FACTORY_CODE)
    pre.set_account(BENEFICIARY, balance=50)
    sd = addr(0x5D)
    pre.set_account(sd, nonce=1, balance=1000, code=SELFDESTRUCT_CODE, storage={0: 1})
    rev = addr(0x7E)
    pre.set_account(rev, nonce=1, code=REVERTING, storage={0: 5})
    tr = addr(0x7F)
    pre.set_account(tr, nonce=1, code=TRANSIENT)
    snapshot = copy.deepcopy((pre.accounts, pre.slots, pre.codes))

    txs = [
        sign_tx(CancunVM, K1, 0, C),
        sign_tx(CancunVM, K2, 0, NEW, value=5, gas=21000),
        sign_tx(CancunVM, K1, 1, FACTORY, data=INIT, gas=500_000),
        sign_tx(CancunVM, K2, 1, sd),
        sign_tx(CancunVM, K1, 2, rev, value=9),
        sign_tx(CancunVM, K2, 2, tr),
        sign_tx(CancunVM, K1, 3, tr),
        sign_tx(CancunVM, K2, 3, NEW, value=6, gas=21000),
    ]
    block = make_block(CancunVM, txs, COINBASE)
    outcome = execute_block(block, pre, SerialStrategy())

    # independently: run each tx on an overlay and apply its writes in order
    env = make_env(CancunVM, COINBASE)
    state = OverlayState(pre)
    mine = []
    for i, tx in enumerate(txs):
        r = execute_transaction(env, state, tx, i)
        state.apply(r.writes, r.new_code)
        mine.append(r)
    assert [r.writes for r in outcome.tx_results] == [r.writes for r in mine]
    assert [r.reads for r in outcome.tx_results] == [r.reads for r in mine]
    assert outcome.state_diff == state.diff()
    assert outcome.new_code == state.new_code()

    gas = [r.gas_used for r in mine]
    assert outcome.gas_used == sum(gas)
    assert [rc.cumulative_gas_used for rc in outcome.receipts] == [
        sum(gas[: i + 1]) for i in range(len(gas))
    ]
    assert [rc.success for rc in outcome.receipts] == [True, True, True, True, False, True, True, True]

    d = outcome.state_diff
    a1 = create_address(FACTORY, 1)
    a2 = create2_address(FACTORY, SALT, INIT)
    assert d[(STORAGE, C, 1)] == 5
    assert d[(EXISTS, NEW)] is True and d[(BALANCE, NEW)] == 11
    assert d[(NONCE, S1)] == 4 and d[(NONCE, S2)] == 4
    assert d[(BALANCE, S1)] == RICH - GAS_PRICE * (gas[0] + gas[2] + gas[4] + gas[6])
    assert d[(BALANCE, S2)] == RICH - 11 - GAS_PRICE * (gas[1] + gas[3] + gas[5] + gas[7])
    assert d[(BALANCE, COINBASE)] == CB_BALANCE + TIP * sum(gas)
    assert d[(CODE, a1)] == d[(CODE, a2)] == keccak(RUNTIME)
    assert d[(STORAGE, a1, 0)] == 7
    assert d[(BALANCE, sd)] == 0 and d[(BALANCE, BENEFICIARY)] == 1050
    assert (EXISTS, sd) not in d
    assert d[(STORAGE, tr, 1)] == 1 and d[(STORAGE, tr, 2)] == 42
    assert not any(loc[1] == rev for loc in d)
    assert outcome.new_code == {keccak(RUNTIME): RUNTIME}
    # the pre-state is untouched
    assert (pre.accounts, pre.slots, pre.codes) == snapshot


# ----------------------------------------------------------------- 14. fee deltas
#
# Credits to the coinbase (like credits to any existing account, section 15) are
# BALANCE_DELTA writes without a read of its balance; a transaction that observes
# the balance reads the exact serial value and writes an absolute BALANCE
# (parexec.model). Every case is also checked serially: the
# writes applied in order on an OverlayState give the balances py-evm's own State
# reaches on its trie (evm_helpers.stock_pyevm_state).

READ_COINBASE = asm("COINBASE", "BALANCE", 0, "SSTORE", "STOP")  # slot0 = balance(coinbase)
READER = addr(0x8D)  # a contract running READ_COINBASE
PAYER = addr(0x9A)  # a contract paying 100 wei to the coinbase with CALL


def run_in_order(vm, pre, txs, coinbase=COINBASE):
    """Execute ``txs`` one after another on an OverlayState over ``pre``, applying
    each result's writes before the next transaction."""
    env = make_env(vm, coinbase)
    state = OverlayState(pre)
    results = []
    for i, tx in enumerate(txs):
        r = execute_transaction(env, state, tx, i)
        assert_well_formed(r)
        state.apply(r.writes, r.new_code)
        results.append(r)
    return state, results


def assert_matches_stock_pyevm(vm, pre, txs, state, addresses, slots=(), coinbase=COINBASE):
    """The accounts (existence, balance, nonce, code) and slots of ``state`` equal
    what py-evm's own State reaches running ``txs`` on ``pre``."""
    stock = stock_pyevm_state(vm, pre, coinbase, txs)
    for a in addresses:
        acc = state.account(a)
        assert stock.account_exists(a) == (acc is not None), a.hex()
        if acc is not None:
            assert (acc.balance, acc.nonce, acc.code_hash) == (
                stock.get_balance(a), stock.get_nonce(a), stock.get_code_hash(a)
            ), a.hex()
    for a, slot in slots:
        assert state.storage(a, slot) == stock.get_storage(a, slot), (a.hex(), slot)


def coinbase_reads(result, coinbase=COINBASE):
    return {loc: v for loc, v in result.reads.items() if loc[1] == coinbase}


def coinbase_writes(result, coinbase=COINBASE):
    return {loc: v for loc, v in result.writes.items() if loc[1] == coinbase}


@pytest.mark.parametrize("vm", ALL_FORKS, ids=lambda v: v.__name__)
def test_fee_delta_plain_transfer(vm):
    pre = base_state()
    pre.set_account(E, balance=3)
    tx = sign_tx(vm, K1, 0, E, value=5, gas=21000)
    state, [r] = run_in_order(vm, pre, [tx])
    price, tip = prices(vm)
    assert r.success and r.gas_used == 21000
    # both credits (the value to E, the fee to the coinbase) are deltas
    assert r.writes == {
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(5 + 21000 * price),
        (BALANCE_DELTA, E): 5,
        (BALANCE_DELTA, COINBASE): 21000 * tip,
    }
    # the same reads on every fork: each credit only needs to know that its account
    # exists (E's code is read to run it); from Spurious Dragon on E and the coinbase
    # are touched, but their pending credits prove them non-empty for the EIP-161
    # check, so neither nonce nor balance is read
    assert r.reads == {
        (EXISTS, S1): True, (NONCE, S1): 0, (BALANCE_FLOOR, S1, max_cost(tx)): True,
        (CODE, S1): EMPTY_CODE_HASH,
        (EXISTS, E): True, (CODE, E): EMPTY_CODE_HASH,
        (EXISTS, COINBASE): True,
    }
    assert state.account(E).balance == 8
    assert state.diff()[(BALANCE, E)] == 8
    assert state.account(COINBASE).balance == CB_BALANCE + 21000 * tip
    assert state.diff()[(BALANCE, COINBASE)] == CB_BALANCE + 21000 * tip
    assert_matches_stock_pyevm(vm, pre, [tx], state, [S1, E, COINBASE])


@pytest.mark.parametrize("vm", [ShanghaiVM, CancunVM], ids=lambda v: v.__name__)
def test_balance_of_coinbase_reads_the_exact_pre_balance(vm):
    pre = base_state()
    pre.set_account(COINBASE, balance=10**6 + 7)
    pre.set_account(READER, nonce=1, code=READ_COINBASE)
    tx = sign_tx(vm, K1, 0, READER)
    state, [r] = run_in_order(vm, pre, [tx])
    assert r.success
    # COINBASE 2, BALANCE of the (EIP-3651 warm) coinbase 100, PUSH1 3, SSTORE 0->x 22100
    assert r.gas_used == 21000 + 2 + 100 + 3 + 22100
    fee = r.gas_used * TIP
    # BALANCE saw the value in the view: this transaction has not paid the fee yet
    assert r.writes == {
        (STORAGE, READER, 0): 10**6 + 7,
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * GAS_PRICE),
        (BALANCE, COINBASE): 10**6 + 7 + fee,
    }
    # the fee is then a plain write, and the end-of-transaction EIP-161 check of the
    # touched coinbase (no credit pending any more) looks at its nonce and code
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True, (BALANCE, COINBASE): 10**6 + 7,
        (NONCE, COINBASE): 0, (CODE, COINBASE): EMPTY_CODE_HASH,
    }
    assert (BALANCE_DELTA, COINBASE) not in r.writes
    assert state.account(COINBASE).balance == 10**6 + 7 + fee
    assert_matches_stock_pyevm(vm, pre, [tx], state, [S1, COINBASE, READER], [(READER, 0)])


def test_selfbalance_of_coinbase_sees_the_value_credited_before():
    # the transaction sends 5 wei to the coinbase itself, a contract storing SELFBALANCE
    code = asm("SELFBALANCE", 0, "SSTORE", "STOP")
    pre = base_state()
    pre.set_account(COINBASE, nonce=1, balance=CB_BALANCE, code=code)
    tx = sign_tx(CancunVM, K1, 0, COINBASE, value=5)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    fee = r.gas_used * TIP
    assert r.writes == {
        (STORAGE, COINBASE, 0): CB_BALANCE + 5,  # the pending credit made exact
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(5 + r.gas_used * GAS_PRICE),
        (BALANCE, COINBASE): CB_BALANCE + 5 + fee,
    }
    # the read is the view value (before the 5 wei), never the transaction's own credit
    assert r.reads[(BALANCE, COINBASE)] == CB_BALANCE
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, COINBASE], [(COINBASE, 0)])


def test_balance_of_coinbase_after_a_value_call_to_it_sees_the_value():
    # CALL 100 wei to the coinbase (an EOA with a nonce), then slot0 = BALANCE(coinbase)
    code = call_code(COINBASE, 100) + asm("POP") + READ_COINBASE
    pre = base_state()
    pre.set_account(COINBASE, nonce=1, balance=CB_BALANCE)
    pre.set_account(C, nonce=1, balance=1000, code=code)
    tx = sign_tx(CancunVM, K1, 0, C)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    fee = r.gas_used * TIP
    assert r.writes == {
        (STORAGE, C, 0): CB_BALANCE + 100,
        (BALANCE, C): 900,
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * GAS_PRICE),
        (BALANCE, COINBASE): CB_BALANCE + 100 + fee,
    }
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True,
        (NONCE, COINBASE): 1,  # CALL's EIP-161 emptiness check stops at the nonce
        (CODE, COINBASE): EMPTY_CODE_HASH,
        (BALANCE, COINBASE): CB_BALANCE,
    }
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, C, COINBASE], [(C, 0)])


def _coinbase_sender_case(gas):
    pre = base_state()
    pre.set_account(E, balance=3)
    tx = sign_tx(CancunVM, K1, 0, E, value=1000, gas=gas)
    state, [r] = run_in_order(CancunVM, pre, [tx], coinbase=S1)
    return pre, tx, state, r


@pytest.mark.parametrize("gas", [21000, 60000])
def test_coinbase_as_sender_pays_and_earns_by_one_delta(gas):
    pre, tx, state, r = _coinbase_sender_case(gas)
    assert r.success and r.gas_used == 21000
    # charged gas * price up front, refunded the unused gas, paid the tip on 21000
    expected = RICH - 1000 - 21000 * GAS_PRICE + 21000 * TIP
    # the recipient E is credited with a delta (its pending credit also answers the
    # EIP-161 check, so its nonce and balance are never read); the sender's balance
    # is only checked against the cost
    assert r.writes == {(NONCE, S1): 1, (BALANCE_DELTA, S1): expected - RICH, (BALANCE_DELTA, E): 1000}
    assert r.reads == {
        (EXISTS, S1): True, (NONCE, S1): 0, (BALANCE_FLOOR, S1, max_cost(tx)): True,
        (CODE, S1): EMPTY_CODE_HASH, (EXISTS, E): True, (CODE, E): EMPTY_CODE_HASH,
    }
    assert state.account(S1).balance == expected
    assert state.account(E).balance == 1003
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, E, COINBASE], coinbase=S1)


def test_value_call_to_coinbase_is_part_of_the_delta():
    pre = base_state()
    pre.set_account(COINBASE, nonce=1, balance=CB_BALANCE)
    pre.set_account(PAYER, nonce=1, balance=1000, code=call_code(COINBASE, 100) + asm("POP", "STOP"))
    tx = sign_tx(CancunVM, K1, 0, PAYER)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    # 7 pushes, CALL to the warm coinbase 100 + value 9000 - the 2300 stipend given back, POP
    assert r.gas_used == 21000 + 21 + 100 + 9000 - 2300 + 2
    fee = r.gas_used * TIP
    assert r.writes == {
        (BALANCE, PAYER): 900,
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * GAS_PRICE),
        (BALANCE_DELTA, COINBASE): 100 + fee,
    }
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True, (NONCE, COINBASE): 1, (CODE, COINBASE): EMPTY_CODE_HASH,
    }
    assert state.account(COINBASE).balance == CB_BALANCE + 100 + fee
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, PAYER, COINBASE])


def test_value_call_to_empty_looking_coinbase_reads_its_balance():
    # nonce 0, no code: whether CALL charges 25000 for a new account (EIP-161) depends
    # on the balance being zero; that observes the balance, so the coinbase is exact
    pre = base_state()
    pre.set_account(PAYER, nonce=1, balance=1000, code=call_code(COINBASE, 100) + asm("POP", "STOP"))
    tx = sign_tx(CancunVM, K1, 0, PAYER)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    assert r.gas_used == 21000 + 21 + 100 + 9000 - 2300 + 2  # not empty (balance 1): no 25000
    fee = r.gas_used * TIP
    assert r.writes == {
        (BALANCE, PAYER): 900,
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * GAS_PRICE),
        (BALANCE, COINBASE): CB_BALANCE + 100 + fee,
    }
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True, (NONCE, COINBASE): 0, (CODE, COINBASE): EMPTY_CODE_HASH,
        (BALANCE, COINBASE): CB_BALANCE,
    }
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, PAYER, COINBASE])


def test_value_call_to_coinbase_that_reverts_keeps_only_the_fee():
    # the coinbase is a contract that reverts: the 100 wei credit is undone, the fee is not
    pre = base_state()
    pre.set_account(COINBASE, balance=CB_BALANCE, code=asm(0, 0, "REVERT"))
    payer = call_code(COINBASE, 100) + asm(0, "SSTORE", "STOP")  # slot0 = CALL's result
    pre.set_account(PAYER, nonce=1, balance=1000, code=payer, storage={0: 7})
    tx = sign_tx(CancunVM, K1, 0, PAYER)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    fee = r.gas_used * TIP
    assert r.writes == {
        (STORAGE, PAYER, 0): 0,
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * GAS_PRICE),
        (BALANCE_DELTA, COINBASE): fee,
    }
    # emptiness check: the code already makes it non-empty, the balance is never read
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True, (NONCE, COINBASE): 0, (CODE, COINBASE): keccak(asm(0, 0, "REVERT")),
    }
    assert state.account(COINBASE).balance == CB_BALANCE + fee
    assert state.account(PAYER).balance == 1000
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, PAYER, COINBASE], [(PAYER, 0)])


def test_reverted_transaction_undoes_the_value_sent_to_the_coinbase_not_the_fee():
    pre = base_state()
    pre.set_account(COINBASE, nonce=1, balance=CB_BALANCE)
    code = call_code(COINBASE, 100) + asm("POP", 0, 0, "REVERT")
    pre.set_account(PAYER, nonce=1, balance=1000, code=code)
    tx = sign_tx(CancunVM, K1, 0, PAYER)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert not r.success
    assert r.writes == fee_writes(CancunVM, r)
    assert r.writes[(BALANCE_DELTA, COINBASE)] == r.gas_used * TIP
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True, (NONCE, COINBASE): 1, (CODE, COINBASE): EMPTY_CODE_HASH,
    }
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, PAYER, COINBASE])


def test_coinbase_balance_read_in_a_reverted_call_still_makes_the_fee_exact():
    # PAYER calls READER-like code that reads the coinbase balance and reverts;
    # the read was made (reads are never undone), so the fee is written exactly
    peek = asm("COINBASE", "BALANCE", "POP", 0, 0, "REVERT")
    pre = base_state()
    pre.set_account(C, nonce=1, code=peek)
    pre.set_account(PAYER, nonce=1, code=call_code(C, 0) + asm("POP", "STOP"))
    tx = sign_tx(CancunVM, K1, 0, PAYER)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    fee = r.gas_used * TIP
    assert r.writes == {
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * GAS_PRICE),
        (BALANCE, COINBASE): CB_BALANCE + fee,
    }
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True, (BALANCE, COINBASE): CB_BALANCE,
        (NONCE, COINBASE): 0, (CODE, COINBASE): EMPTY_CODE_HASH,  # EIP-161 check
    }
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, C, PAYER, COINBASE])


@pytest.mark.parametrize("vm", [ShanghaiVM, CancunVM], ids=lambda v: v.__name__)
def test_selfdestruct_to_the_coinbase(vm):
    # Cancun moves the balance with a credit (a delta); before Cancun py-evm reads
    # the beneficiary's balance and sets the sum (exact)
    pre = base_state()
    pre.set_account(COINBASE, nonce=1, balance=CB_BALANCE)
    pre.set_account(C, nonce=1, balance=1000, code=asm(COINBASE, "SELFDESTRUCT"))
    tx = sign_tx(vm, K1, 0, C)
    state, [r] = run_in_order(vm, pre, [tx])
    assert r.success
    assert r.gas_used == 21000 + 3 + 5000  # the coinbase is warm (EIP-3651)
    fee = r.gas_used * TIP
    sender = {(NONCE, S1): 1, (BALANCE_DELTA, S1): -r.gas_used * GAS_PRICE}
    if vm is CancunVM:
        assert r.writes == {(BALANCE, C): 0, (BALANCE_DELTA, COINBASE): 1000 + fee, **sender}
        assert (BALANCE, COINBASE) not in r.reads
    else:
        assert r.writes == {(EXISTS, C): False, (BALANCE, COINBASE): CB_BALANCE + 1000 + fee, **sender}
        assert r.reads[(BALANCE, COINBASE)] == CB_BALANCE
    assert state.account(COINBASE).balance == CB_BALANCE + 1000 + fee
    assert_matches_stock_pyevm(vm, pre, [tx], state, [S1, C, COINBASE])


def test_pending_credit_survives_a_reverted_read_of_the_balance():
    # C pays 100 wei to the coinbase (pending credit), then calls X, which reads
    # BALANCE(coinbase) (settling the credit) and reverts: the revert restores the
    # pending credit, and C's own BALANCE(coinbase) still sees the 100 wei
    x = addr(0x55)
    pre = base_state()
    pre.set_account(COINBASE, nonce=1, balance=CB_BALANCE)
    pre.set_account(x, nonce=1, code=asm("COINBASE", "BALANCE", 0, "SSTORE", 0, 0, "REVERT"))
    code = (
        call_code(COINBASE, 100) + asm("POP") + call_code(x, 0)
        + asm(2, "SSTORE", "COINBASE", "BALANCE", 1, "SSTORE", "STOP")
    )
    pre.set_account(C, nonce=1, balance=1000, code=code)
    tx = sign_tx(CancunVM, K1, 0, C)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    fee = r.gas_used * TIP
    assert r.writes == {
        (BALANCE, C): 900,
        (STORAGE, C, 1): CB_BALANCE + 100,
        # slot 2 = X's CALL result 0 (unchanged), X's own slot 0 reverted: no writes
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(r.gas_used * GAS_PRICE),
        (BALANCE, COINBASE): CB_BALANCE + 100 + fee,
    }
    assert r.reads[(BALANCE, COINBASE)] == CB_BALANCE
    assert_matches_stock_pyevm(
        CancunVM, pre, [tx], state, [S1, C, x, COINBASE], [(C, 1), (C, 2), (x, 0)]
    )


def test_second_transaction_sees_the_first_fee_exactly():
    pre = base_state()
    pre.set_account(E, balance=3)
    pre.set_account(READER, nonce=1, code=READ_COINBASE)
    txs = [
        sign_tx(CancunVM, K1, 0, E, value=5, gas=21000),
        sign_tx(CancunVM, K2, 0, READER),
        sign_tx(CancunVM, K1, 1, E, value=5, gas=21000),
    ]
    state, (r1, r2, r3) = run_in_order(CancunVM, pre, txs)
    fee1, fee2, fee3 = (r.gas_used * TIP for r in (r1, r2, r3))
    assert r1.writes[(BALANCE_DELTA, COINBASE)] == fee1
    assert coinbase_writes(r1) == {(BALANCE_DELTA, COINBASE): fee1}
    # the BALANCE opcode of the second transaction sees the first one's fee
    assert r2.reads[(BALANCE, COINBASE)] == CB_BALANCE + fee1
    assert r2.writes == {
        (STORAGE, READER, 0): CB_BALANCE + fee1,
        (NONCE, S2): 1,
        (BALANCE_DELTA, S2): -(r2.gas_used * GAS_PRICE),
        (BALANCE, COINBASE): CB_BALANCE + fee1 + fee2,
    }
    assert coinbase_writes(r3) == {(BALANCE_DELTA, COINBASE): fee3}
    assert (BALANCE, COINBASE) not in r3.reads
    assert state.account(COINBASE).balance == CB_BALANCE + fee1 + fee2 + fee3
    assert state.storage(READER, 0) == CB_BALANCE + fee1
    assert_matches_stock_pyevm(
        CancunVM, pre, txs, state, [S1, S2, E, READER, COINBASE], [(READER, 0)]
    )


def test_absent_coinbase_is_created_exactly_then_credited_by_deltas():
    pre = base_state()
    del pre.accounts[COINBASE], pre.slots[COINBASE]
    pre.set_account(E, balance=3)
    txs = [sign_tx(CancunVM, K1, n, E, value=5, gas=21000) for n in range(2)]
    state, (r1, r2) = run_in_order(CancunVM, pre, txs)
    fee = 21000 * TIP
    assert r1.writes == {
        (NONCE, S1): 1,
        (BALANCE_DELTA, S1): -(5 + 21000 * GAS_PRICE),
        (BALANCE_DELTA, E): 5,  # E exists: its credit is a delta in both transactions
        (EXISTS, COINBASE): True,
        (BALANCE, COINBASE): fee,
        (NONCE, COINBASE): 0,
        (CODE, COINBASE): EMPTY_CODE_HASH,
    }
    assert coinbase_reads(r1) == {(EXISTS, COINBASE): False, (BALANCE, COINBASE): 0}
    assert r1.created == (COINBASE,)
    # once it exists, the next fee is a delta again
    assert coinbase_writes(r2) == {(BALANCE_DELTA, COINBASE): fee}
    assert coinbase_reads(r2) == {(EXISTS, COINBASE): True}
    assert r2.writes[(BALANCE_DELTA, E)] == 5
    assert (BALANCE, E) not in r1.reads and (BALANCE, E) not in r2.reads
    assert state.diff()[(EXISTS, COINBASE)] is True
    assert state.account(COINBASE).balance == 2 * fee
    assert state.account(E).balance == 13
    assert_matches_stock_pyevm(CancunVM, pre, txs, state, [S1, E, COINBASE])


@pytest.mark.parametrize("vm", ALL_FORKS, ids=lambda v: v.__name__)
def test_zero_tip_with_empty_coinbase_matches_pyevm(vm):
    # the coinbase exists but is empty (no balance, nonce or code): the zero fee
    # touches it, and from Spurious Dragon on EIP-161 deletes it
    pre = base_state()
    pre.set_account(COINBASE)
    pre.set_account(E, balance=3)
    tx = sign_tx(vm, K1, 0, E, value=5, gas=21000, tip=0, max_fee=BASE_FEE, gas_price=0)
    state, [r] = run_in_order(vm, pre, [tx])
    assert r.success
    if vm is HomesteadVM:
        assert coinbase_writes(r) == {}
        assert coinbase_reads(r) == {(EXISTS, COINBASE): True}
        assert state.account(COINBASE) is not None
    else:
        # with no credit pending the emptiness check reads the exact balance
        assert coinbase_writes(r) == {(EXISTS, COINBASE): False}
        assert coinbase_reads(r) == {
            (EXISTS, COINBASE): True, (NONCE, COINBASE): 0,
            (CODE, COINBASE): EMPTY_CODE_HASH, (BALANCE, COINBASE): 0,
        }
        assert r.destroyed == (COINBASE,)
        assert state.account(COINBASE) is None
        assert state.diff()[(EXISTS, COINBASE)] is False
    assert_matches_stock_pyevm(vm, pre, [tx], state, [S1, E, COINBASE])


def test_zero_tip_with_funded_coinbase_reads_but_writes_nothing():
    pre = base_state()
    pre.set_account(E, balance=3)
    tx = sign_tx(CancunVM, K1, 0, E, value=5, gas=21000, tip=0, max_fee=BASE_FEE)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert coinbase_writes(r) == {}
    assert coinbase_reads(r) == {
        (EXISTS, COINBASE): True, (NONCE, COINBASE): 0,
        (CODE, COINBASE): EMPTY_CODE_HASH, (BALANCE, COINBASE): CB_BALANCE,
    }
    assert state.account(COINBASE).balance == CB_BALANCE
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, E, COINBASE])


def test_new_state_without_fee_deltas_writes_the_coinbase_absolutely():
    pre = base_state()
    pre.set_account(C, nonce=1, code=SLOAD0_SSTORE1, storage={0: 5})
    tx = sign_tx(CancunVM, K1, 0, C)

    env = make_env(CancunVM, COINBASE)
    with_deltas = execute_transaction(env, pre, tx, 0)

    absolute_env = make_env(CancunVM, COINBASE)
    absolute_env.new_state = lambda view: BlockEnv.new_state(absolute_env, view, fee_deltas=False)
    absolute = execute_transaction(absolute_env, pre, tx, 0)

    fee = TIP * with_deltas.gas_used
    assert absolute.gas_used == with_deltas.gas_used
    assert with_deltas.writes == fee_writes(CancunVM, with_deltas) | {(STORAGE, C, 1): 5}
    # the old behaviour: read the coinbase balance, write the sum
    assert absolute.writes == {
        (STORAGE, C, 1): 5,
        (NONCE, S1): 1,
        (BALANCE, S1): RICH - with_deltas.gas_used * GAS_PRICE,
        (BALANCE, COINBASE): CB_BALANCE + fee,
    }
    # ... and with no credit pending, the EIP-161 check of the touched coinbase
    # looks at its nonce and code too; the sender's balance is read, not floored
    floor = (BALANCE_FLOOR, S1, max_cost(tx))
    assert with_deltas.reads[floor] is True
    assert absolute.reads == {k: v for k, v in with_deltas.reads.items() if k != floor} | {
        (BALANCE, S1): RICH,
        (BALANCE, COINBASE): CB_BALANCE,
        (NONCE, COINBASE): 0,
        (CODE, COINBASE): EMPTY_CODE_HASH,
    }
    assert (BALANCE, COINBASE) not in with_deltas.reads
    # both give the same state
    a, b = OverlayState(pre), OverlayState(pre)
    a.apply(with_deltas.writes, with_deltas.new_code)
    b.apply(absolute.writes, absolute.new_code)
    assert a.diff() == b.diff()


def test_serial_pipeline_with_coinbase_readers_settles_fees_in_order():
    pre = base_state()
    pre.set_account(COINBASE, nonce=1, balance=CB_BALANCE)
    pre.set_account(E, balance=3)
    pre.set_account(READER, nonce=1, code=READ_COINBASE)
    pre.set_account(PAYER, nonce=1, balance=1000, code=call_code(COINBASE, 100) + asm("POP", "STOP"))
    txs = [
        sign_tx(CancunVM, K1, 0, E, value=5, gas=21000),  # delta
        sign_tx(CancunVM, K2, 0, READER),  # reads the coinbase: exact
        sign_tx(CancunVM, K1, 1, PAYER),  # 100 wei to the coinbase: delta
        sign_tx(CancunVM, K2, 1, COINBASE, value=7, gas=21000),  # 7 wei to it: delta
        sign_tx(CancunVM, K1, 2, READER),  # reads again: exact
        sign_tx(CancunVM, K2, 2, E, value=5, gas=21000),  # delta
    ]
    block = make_block(CancunVM, txs, COINBASE)
    outcome = execute_block(block, pre, get_strategy("serial"))

    state, mine = run_in_order(CancunVM, pre, txs)
    assert [r.writes for r in outcome.tx_results] == [r.writes for r in mine]
    assert [r.reads for r in outcome.tx_results] == [r.reads for r in mine]
    assert outcome.state_diff == state.diff()

    gas = [r.gas_used for r in mine]
    fees = [g * TIP for g in gas]
    exact = [(BALANCE, COINBASE) in r.writes for r in mine]
    delta = [(BALANCE_DELTA, COINBASE) in r.writes for r in mine]
    assert exact == [False, True, False, False, True, False]
    assert delta == [not e for e in exact]
    assert mine[2].writes[(BALANCE_DELTA, COINBASE)] == 100 + fees[2]
    assert mine[3].writes[(BALANCE_DELTA, COINBASE)] == 7 + fees[3]
    assert mine[1].reads[(BALANCE, COINBASE)] == CB_BALANCE + fees[0]
    assert mine[4].reads[(BALANCE, COINBASE)] == CB_BALANCE + sum(fees[:4]) + 107
    assert mine[4].writes[(STORAGE, READER, 0)] == CB_BALANCE + sum(fees[:4]) + 107

    d = outcome.state_diff
    assert d[(BALANCE, COINBASE)] == CB_BALANCE + TIP * sum(gas) + 107
    assert outcome.gas_used == sum(gas)
    assert d[(STORAGE, READER, 0)] == CB_BALANCE + sum(fees[:4]) + 107
    assert not any(loc[0] == BALANCE_DELTA for loc in d)
    assert_matches_stock_pyevm(
        CancunVM, pre, txs, state, [S1, S2, E, READER, PAYER, COINBASE], [(READER, 0)]
    )


def test_serial_pipeline_block_reward_is_settled_with_the_fees():
    # before the Merge the coinbase also gets the block reward after the transactions
    pre = base_state()
    pre.set_account(READER, nonce=1, code=READ_COINBASE)
    txs = [
        sign_tx(HomesteadVM, K1, 0, E, value=5, gas=21000),
        sign_tx(HomesteadVM, K2, 0, READER),
        sign_tx(HomesteadVM, K1, 1, E, value=5, gas=21000),
    ]
    outcome = execute_block(make_block(HomesteadVM, txs, COINBASE), pre, get_strategy("serial"))
    gas = [r.gas_used for r in outcome.tx_results]
    fees = [g * LEGACY_GAS_PRICE for g in gas]
    d = outcome.state_diff
    assert d[(STORAGE, READER, 0)] == CB_BALANCE + fees[0]
    assert d[(BALANCE, COINBASE)] == CB_BALANCE + sum(fees) + HomesteadVM.get_block_reward()
    assert [(BALANCE_DELTA, COINBASE) in r.writes for r in outcome.tx_results] == [True, False, True]


# ------------------------------------------------------- 15. credits to any account
#
# Every credit to an account that exists, whose balance the transaction has not
# read or written and that it did not create, is deferred like the fee: value
# received becomes a BALANCE_DELTA write with no read of the balance. Observing the
# balance later in the transaction settles it (exact read, absolute write); a
# revert undoes the pending credit. Each case is checked serially against
# py-evm's own State, as in section 14.

HOT = addr(0x707)  # a popular recipient: an EOA that has sent transactions (nonce 1)
HOT_BALANCE = 3
EMPTY = addr(0xE0)  # exists, but empty (nonce 0, no code, balance 0)
FORWARDER = addr(0xF0)  # forwards the value it receives to HOT with CALL
FORWARD_TO_HOT = asm(0, 0, 0, 0, "CALLVALUE", HOT, 50_000, "CALL", "POP", "STOP")
STORE_SELFBALANCE = asm("SELFBALANCE", 0, "SSTORE", "STOP")  # slot0 = SELFBALANCE


def only_for(result, address):
    """(reads, writes) of ``result`` at ``address``."""
    return (
        {loc: v for loc, v in result.reads.items() if loc[1] == address},
        {loc: v for loc, v in result.writes.items() if loc[1] == address},
    )


def test_many_transfers_to_a_hot_recipient_are_deltas_and_settle_serially():
    keys = [key(n) for n in range(1, 7)]
    senders = [address_of(k) for k in keys]
    pre = MemoryState()
    for s in senders:
        pre.set_account(s, balance=RICH)
    pre.set_account(COINBASE, balance=CB_BALANCE)
    pre.set_account(HOT, nonce=1, balance=HOT_BALANCE)
    pre.set_account(FORWARDER, nonce=1, code=FORWARD_TO_HOT)
    # distinct senders, so that nothing but the shared recipient (and the coinbase)
    # links the transactions; two of them pay HOT through the forwarder's CALL
    values = [10, 11, 12, 13, 14, 15]
    targets = [HOT, HOT, FORWARDER, HOT, FORWARDER, HOT]
    txs = [
        sign_tx(CancunVM, k, 0, to, value=v, gas=21000 if to == HOT else 100_000)
        for k, to, v in zip(keys, targets, values)
    ]
    state, results = run_in_order(CancunVM, pre, txs)
    assert all(r.success for r in results)
    for r, to, v in zip(results, targets, values):
        reads, writes = only_for(r, HOT)
        assert writes == {(BALANCE_DELTA, HOT): v}
        if to == HOT:
            assert reads == {(EXISTS, HOT): True, (CODE, HOT): EMPTY_CODE_HASH}
        else:
            # CALL's EIP-161 emptiness check of HOT stops at its non-zero nonce
            assert reads == {
                (EXISTS, HOT): True, (CODE, HOT): EMPTY_CODE_HASH, (NONCE, HOT): 1,
            }
            # the forwarder observes its own balance (it sends value): exact, and
            # back where it was, so nothing is written for it
            assert r.reads[(BALANCE, FORWARDER)] == 0
            assert only_for(r, FORWARDER)[1] == {}
    # no transaction read anything another one wrote: run each on the pre-state
    # alone and it reads and writes exactly what it did in block order
    env = make_env(CancunVM, COINBASE)
    for i, (tx, r) in enumerate(zip(txs, results)):
        alone = execute_transaction(env, pre, tx, i)
        assert (alone.reads, alone.writes) == (r.reads, r.writes)
    assert state.account(HOT).balance == HOT_BALANCE + sum(values)
    assert state.account(HOT).nonce == 1
    assert state.diff()[(BALANCE, HOT)] == HOT_BALANCE + sum(values)
    assert state.account(FORWARDER).balance == 0
    assert state.account(COINBASE).balance == CB_BALANCE + TIP * sum(r.gas_used for r in results)
    # the serial pipeline settles the deltas the same way
    outcome = execute_block(make_block(CancunVM, txs, COINBASE), pre, SerialStrategy())
    assert [r.writes for r in outcome.tx_results] == [r.writes for r in results]
    assert outcome.state_diff == state.diff()
    assert not any(loc[0] == BALANCE_DELTA for loc in outcome.state_diff)
    assert_matches_stock_pyevm(CancunVM, pre, txs, state, [*senders, HOT, FORWARDER, COINBASE])


@pytest.mark.parametrize("via_call", [False, True], ids=["tx_value", "call_value"])
def test_selfbalance_after_receiving_value_sees_it_exactly(via_call):
    # C receives value (a pending credit), then reads SELFBALANCE in the same call:
    # the credit is settled, SELFBALANCE sees pre + value, the write is absolute
    pre = base_state()
    pre.set_account(C, nonce=1, balance=40, code=STORE_SELFBALANCE)
    if via_call:
        pre.set_account(PAYER, nonce=1, balance=1000, code=call_code(C, 100) + asm("POP", "STOP"))
        txs = [sign_tx(CancunVM, K1, 0, PAYER), sign_tx(CancunVM, K1, 1, PAYER)]
        value = 100
    else:
        txs = [sign_tx(CancunVM, K1, 0, C, value=5), sign_tx(CancunVM, K1, 1, C, value=5)]
        value = 5
    state, (r1, r2) = run_in_order(CancunVM, pre, txs)
    assert r1.success and r2.success
    for r, before in ((r1, 40), (r2, 40 + value)):
        reads, writes = only_for(r, C)
        assert writes == {(BALANCE, C): before + value, (STORAGE, C, 0): before + value}
        # the read is the view value, never the transaction's own credit
        assert reads[(BALANCE, C)] == before
        assert (BALANCE_DELTA, C) not in r.writes
    if via_call:
        assert r1.writes[(BALANCE, PAYER)] == 900 and r2.writes[(BALANCE, PAYER)] == 800
        assert r1.reads[(NONCE, C)] == 1  # CALL's emptiness check stops at the nonce
    else:
        assert r1.writes[(BALANCE_DELTA, S1)] == -(5 + r1.gas_used * GAS_PRICE)
    assert state.account(C).balance == 40 + 2 * value
    assert state.storage(C, 0) == 40 + 2 * value
    assert_matches_stock_pyevm(CancunVM, pre, txs, state, [S1, C, PAYER, COINBASE], [(C, 0)])


@pytest.mark.parametrize("vm", ALL_FORKS, ids=lambda v: v.__name__)
def test_value_call_to_absent_account_creates_it_exactly(vm):
    # two value CALLs to NEW: the first creates it, the second credits the account
    # this transaction created; both are exact, never deltas
    code = call_code(NEW, 100) + asm("POP") + call_code(NEW, 50) + asm("POP", "STOP")
    pre = base_state()
    pre.set_account(PAYER, nonce=1, balance=1000, code=code)
    tx = sign_tx(vm, K1, 0, PAYER)
    state, [r] = run_in_order(vm, pre, [tx])
    assert r.success
    reads, writes = only_for(r, NEW)
    assert writes == {
        (EXISTS, NEW): True, (BALANCE, NEW): 150, (NONCE, NEW): 0, (CODE, NEW): EMPTY_CODE_HASH,
    }
    # seen absent: the child message's code and the exact credit's balance are
    # the defaults of an absent account, read before it is created
    assert reads == {(EXISTS, NEW): False, (CODE, NEW): EMPTY_CODE_HASH, (BALANCE, NEW): 0}
    assert r.writes[(BALANCE, PAYER)] == 850
    assert r.created == (NEW,)
    if vm is CancunVM:
        # 2 x (7 pushes + POP), cold then warm NEW, 2 x value 9000 - stipend 2300,
        # 25000 for the new account once
        assert r.gas_used == 21000 + 2 * (21 + 2) + 2600 + 100 + 2 * (9000 - 2300) + 25000
    assert state.diff()[(EXISTS, NEW)] is True
    assert state.account(NEW).balance == 150
    assert_matches_stock_pyevm(vm, pre, [tx], state, [S1, PAYER, NEW, COINBASE])


@pytest.mark.parametrize("value", [5, 0], ids=["value", "zero_value"])
@pytest.mark.parametrize("vm", ALL_FORKS, ids=lambda v: v.__name__)
def test_transfer_to_existing_empty_account(vm, value):
    # EMPTY exists with nonce 0, no code and balance 0. A plain transfer touches it;
    # from Spurious Dragon on the EIP-161 check would delete it if it were still
    # empty. With value its pending credit proves it non-empty (balance unread) and
    # it keeps the value; without value nothing is pending, the check reads the
    # exact (zero) balance and deletes it.
    pre = base_state()
    pre.set_account(EMPTY)
    tx = sign_tx(vm, K1, 0, EMPTY, value=value, gas=21000)
    state, [r] = run_in_order(vm, pre, [tx])
    assert r.success
    reads, writes = only_for(r, EMPTY)
    if value:
        assert writes == {(BALANCE_DELTA, EMPTY): value}
        assert reads == {(EXISTS, EMPTY): True, (CODE, EMPTY): EMPTY_CODE_HASH}
        assert (state.account(EMPTY).balance, state.account(EMPTY).nonce) == (value, 0)
        assert r.destroyed == ()
    elif vm is HomesteadVM:
        assert writes == {}
        assert reads == {(EXISTS, EMPTY): True, (CODE, EMPTY): EMPTY_CODE_HASH}
        assert state.account(EMPTY) is not None
    else:
        assert writes == {(EXISTS, EMPTY): False}
        assert reads == {
            (EXISTS, EMPTY): True, (CODE, EMPTY): EMPTY_CODE_HASH,
            (NONCE, EMPTY): 0, (BALANCE, EMPTY): 0,
        }
        assert r.destroyed == (EMPTY,)
        assert state.account(EMPTY) is None
    assert r.writes == {**writes, **fee_writes(vm, r, value=value)}
    assert_matches_stock_pyevm(vm, pre, [tx], state, [S1, EMPTY, COINBASE])


def test_value_call_to_existing_empty_account_reads_its_balance_exactly():
    # CALL charges 25000 for a value transfer to an empty account (EIP-161): that
    # check runs before the credit and reads the exact balance, so the credit is
    # exact too
    pre = base_state()
    pre.set_account(EMPTY)
    pre.set_account(PAYER, nonce=1, balance=1000, code=call_code(EMPTY, 100) + asm("POP", "STOP"))
    tx = sign_tx(CancunVM, K1, 0, PAYER)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    assert r.gas_used == 21000 + 21 + 2600 + 9000 + 25000 - 2300 + 2
    reads, writes = only_for(r, EMPTY)
    assert writes == {(BALANCE, EMPTY): 100}
    assert reads == {
        (EXISTS, EMPTY): True, (CODE, EMPTY): EMPTY_CODE_HASH,
        (NONCE, EMPTY): 0, (BALANCE, EMPTY): 0,
    }
    assert r.writes == {(BALANCE, PAYER): 900, **writes, **fee_writes(CancunVM, r)}
    assert state.account(EMPTY).balance == 100
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, PAYER, EMPTY, COINBASE])


@pytest.mark.parametrize("outer_pays", [False, True], ids=["inner_only", "outer_and_inner"])
def test_reverted_inner_value_call_undoes_the_credit(outer_pays):
    # X sends 50 wei to E (nonce 1, balance 3) and reverts: that credit is undone.
    # If C paid E 100 wei before calling X, that pending credit stays as it was.
    x = addr(0x55)
    pre = base_state()
    pre.set_account(E, nonce=1, balance=3)
    pre.set_account(x, nonce=1, balance=500, code=call_code(E, 50) + asm("POP", 0, 0, "REVERT"))
    code = (call_code(E, 100) + asm("POP") if outer_pays else b"") + call_code(x, 0) + asm(
        0, "SSTORE", "STOP"
    )  # slot0 = X's CALL result
    pre.set_account(C, nonce=1, balance=1000, code=code, storage={0: 9})
    tx = sign_tx(CancunVM, K1, 0, C)
    state, [r] = run_in_order(CancunVM, pre, [tx])
    assert r.success
    paid = 100 if outer_pays else 0
    expected = {(STORAGE, C, 0): 0, **fee_writes(CancunVM, r)}
    if outer_pays:
        expected |= {(BALANCE, C): 900, (BALANCE_DELTA, E): 100}
    assert r.writes == expected
    assert not any(loc[1] == x for loc in r.writes)
    # X's balance was observed (it sent value); E's never was, only whether it is
    # empty (its nonce answers that)
    assert r.reads[(BALANCE, x)] == 500
    assert only_for(r, E)[0] == {
        (EXISTS, E): True, (CODE, E): EMPTY_CODE_HASH, (NONCE, E): 1,
    }
    assert state.account(E).balance == 3 + paid
    assert state.account(x).balance == 500
    assert_matches_stock_pyevm(CancunVM, pre, [tx], state, [S1, C, x, E, COINBASE], [(C, 0)])


@pytest.mark.parametrize("vm", [HomesteadVM, CancunVM])
def test_extcodecopy_that_runs_out_of_gas_on_its_charges_reads_no_code(vm):
    """EXTCODECOPY charges its copy and (from Berlin on) the cold access before it
    reads the code (parexec.evm.pyevm_patches; EIP-7928 lists only what is read).
    Given one gas less than those charges the copy halts, having read nothing of
    the target; given enough it reads it and succeeds. The gas is the same either
    way py-evm orders it."""
    code = asm(32, 0, 0, E, "EXTCODECOPY")  # one word of E's code to memory 0
    pre = base_state()
    pre.set_account(C, nonce=1, code=code)
    pre.set_account(E, code=b"\x60\x00")
    base = 21000 + 4 * 3 + 3 + 3  # the transaction, four pushes, a word of memory, a word copied
    access = 2600 if vm is CancunVM else 20  # cold account access; before Berlin, the opcode's price
    enough = run(vm, pre, sign_tx(vm, K1, 0, C, gas=base + access))
    assert enough.success and (CODE, E) in enough.reads and enough.gas_used == base + access
    short = run(vm, pre, sign_tx(vm, K1, 0, C, gas=base + access - 1))
    assert not short.success and short.gas_used == base + access - 1
    assert (CODE, E) not in short.reads and (EXISTS, E) not in short.reads
