"""A block's EIP-7928 list as multi-version memory (parallel/list_memory.py) and
the check that holds a result to it (access/eip7928_check.py): entering the
whole list refuses exactly the lists the full decoder and its rules refuse,
every transaction's view executes to serial's result whether accounts are
entered as they are read (a worker) or all at once (the coordinator), and a
change the list makes that the transaction does not is named."""

from __future__ import annotations

import rlp
import rusty_rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MAINNET, require_data
from parexec.access.eip7928 import InvalidAccessList, decode
from parexec.access.eip7928_builder import build_access_list
from parexec.access.eip7928_check import ListCheck, ListMismatch
from parexec.block.pipeline import execute_block
from parexec.block.system import block_start
from parexec.evm.tx_executor import execute_transaction
from parexec.fixtures.targets import load_targets
from parexec.model import BALANCE, CODE, FIELD_ATTR, NONCE, STORAGE
from parexec.parallel.list_memory import ListMemory
from parexec.parallel.mv_memory import MVMemory, MVView
from parexec.state.overlay import OverlayState
from parexec.strategies.serial import SerialStrategy

import pytest


def _start(target):
    return block_start(target.block, target.pre_state)


@pytest.fixture(scope="module")
def block_4370000():
    target = load_targets([str(require_data(MAINNET) / "blocks" / "4370000")])[0]
    return target, build_access_list(target.block, target.pre_state).encode()


@pytest.mark.parametrize("spec", ["erc20:txs=60,hot=0.5", "amm:txs=40,hot=0.5", "chain:txs=30", "nft:txs=30"])
def test_every_view_executes_to_serials_result(spec):
    """On a memory that enters accounts as they are read, as a worker's does: each
    result is serial's, its location-by-location check counts what the whole
    list holds at its index, and the whole memory's check passes it."""
    target = load_targets([spec])[0]
    env, state = _start(target)
    encoded = build_access_list(target.block, target.pre_state).encode()
    n = len(target.block.transactions)
    lazy, whole = ListMemory(state, encoded, n), ListMemory(state, encoded, n)
    whole.enter_all()
    serial = execute_block(target.block, target.pre_state, SerialStrategy(), 1, with_state_root=False)
    for j, tx in enumerate(target.block.transactions):
        result = execute_transaction(env, lazy.view(j), tx, j)
        expected = serial.tx_results[j]
        assert (result.writes, result.gas_used, result.logs) == (expected.writes, expected.gas_used, expected.logs)
        assert ListCheck(lazy).accounted_here(j, result) == whole.changes_at[j]
        ListCheck(whole).check(j, result)


def test_a_worker_enters_only_the_accounts_its_transactions_read():
    target = load_targets(["erc20:txs=20"])[0]
    env, state = _start(target)
    memory = ListMemory(state, build_access_list(target.block, target.pre_state).encode(), 20)
    assert set(memory.waiting) == memory.accounts and not memory.data
    result = execute_transaction(env, memory.view(0), target.block.transactions[0], 0)
    touched = {loc[1] for loc in result.reads} | {loc[1] for loc in result.writes}
    entered = memory.accounts - set(memory.waiting)
    assert entered and entered <= touched and memory.waiting


@pytest.mark.parametrize("spec", ["erc20:txs=40,hot=0.5", "mixed:txs=60", "transfers:txs=30,hot=0.3"])
def test_the_lists_own_view_reads_what_the_general_one_reads(spec):
    """ListView and ListMemory's reads take shortcuts the list allows (no estimates,
    no deltas, the base's account where the list changes none of its fields below
    the reader, accounts entered when first read); every read equals MVMemory's
    general reader on the whole list's entries."""
    target = load_targets([spec])[0]
    _, state = _start(target)
    n = len(target.block.transactions)
    encoded = build_access_list(target.block, target.pre_state).encode()
    memory = ListMemory(state, encoded, n)
    memory.enter_all()
    locations = {loc for loc in memory.data if loc[0] == STORAGE}
    assert memory.first_change and (locations or spec.startswith("transfers"))
    for j in range(n + 1):
        general = MVView(memory, j)
        fast = ListMemory(state, encoded, n).view(j)  # nothing entered yet
        assert type(fast).__name__ == "ListView"
        for address in memory.accounts:
            a, b = fast.account(address), MVView.account(general, address)
            assert (a is None) == (b is None)
            if a is not None:
                for kind in (NONCE, BALANCE, CODE):
                    assert getattr(a, FIELD_ATTR[kind]) == getattr(b, FIELD_ATTR[kind]), (j, address, kind)
        for _, address, slot in locations:
            assert fast.storage(address, slot) == MVMemory.storage(memory, address, slot, j)


def test_a_change_the_transaction_does_not_make_is_named(block_4370000):
    target, data = block_4370000
    env, state = _start(target)
    n = len(target.block.transactions)
    memory = ListMemory(state, data, n)
    memory.enter_all()
    serial = execute_block(target.block, target.pre_state, SerialStrategy(), 1, with_state_root=False)
    j = 3
    result = serial.tx_results[j]
    ListCheck(memory).check(j, result)
    sender = next(loc[1] for loc in result.writes if loc[0] == "nonce")
    memory.data[(BALANCE, b"\x42" * 20)] = {j: 1}  # the list says tx j changes an account it never touches
    memory.accounts.add(b"\x42" * 20)
    memory.changes_at[j] += 1
    with pytest.raises(ListMismatch, match=f"the list changes balance of 0x{'42' * 20} at tx {j}"):
        ListCheck(memory).check(j, result)
    assert sender in memory.accounts


# ------------------------------------------------------ entering the whole list refuses what decode refuses

def _raw(data: bytes):
    return rusty_rlp.decode_raw(data, True, False)[0]


def _mutate(raw, kind: str, pick: int, n: int):
    """``raw`` (a decoded list) changed by one ``kind`` of fault, at a place chosen by ``pick``."""
    accounts = raw
    k = pick % len(accounts)
    a = accounts[k]
    with_storage = [x for x in accounts if len(x[1]) >= 2] or [accounts[k]]
    s = with_storage[pick % len(with_storage)]
    with_balances = [x for x in accounts if x[3]]
    b = with_balances[pick % len(with_balances)]
    if kind == "accounts swapped" and len(accounts) > 1:
        accounts[k], accounts[k - 1] = accounts[k - 1], accounts[k]
    elif kind == "account twice":
        accounts.insert(k, list(a))
    elif kind == "slots swapped" and len(s[1]) >= 2:
        s[1][0], s[1][1] = s[1][1], s[1][0]
    elif kind == "index beyond the block":
        b[3][-1][0] = (n + 2).to_bytes(4, "big").lstrip(b"\x00")
    elif kind == "index n+1":  # withdrawals and post-block calls: allowed
        b[3][-1][0] = (n + 1).to_bytes(4, "big").lstrip(b"\x00") if int.from_bytes(b[3][-1][0], "big") < n + 1 else b[3][-1][0]
    elif kind == "index twice":
        b[3].append(list(b[3][-1]))
    elif kind == "leading zero":
        b[3][0][1] = b"\x00" + b[3][0][1]
    elif kind == "value too wide":
        b[3][0][1] = b"\x01" * 33
    elif kind == "nonce too wide":
        a[4] = [[b"\x01", b"\x01" * 9]]
    elif kind == "read of a changed slot" and s[1]:
        s[2] = sorted(set(s[2]) | {s[1][0][0]}, key=lambda x: (len(x), x))
    elif kind == "reads out of order":
        a[2] = [b"\x05", b"\x03"]
    elif kind == "slot without changes" and s[1]:
        s[1][0][1] = []
    elif kind == "bytes where a list belongs":
        a[pick % 5 + 1] = b""
    elif kind == "short address":
        a[0] = a[0][:19]
    elif kind == "five fields":
        accounts[k] = a[:5]
    elif kind == "code too long":
        a[5] = [[b"\x01", b"\x60" * 24_577]]
    return accounts


KINDS = ["accounts swapped", "account twice", "slots swapped", "index beyond the block", "index n+1", "index twice",
         "leading zero", "value too wide", "nonce too wide", "read of a changed slot", "reads out of order",
         "slot without changes", "bytes where a list belongs", "short address", "five fields", "code too long",
         "none"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), pick=st.integers(0, 10_000))
def test_entering_the_list_refuses_exactly_what_the_decoder_refuses(block_4370000, kind, pick):
    target, data = block_4370000
    n = len(target.block.transactions)
    changed = rlp.encode(_mutate(_raw(data), kind, pick, n))
    try:
        decode(changed).check(n)
        refused_by_decoder = False
    except InvalidAccessList:
        refused_by_decoder = True
    try:
        ListMemory(OverlayState(target.pre_state), changed, n).enter_all()
        refused_here = False
    except InvalidAccessList:
        refused_here = True
    assert refused_by_decoder == (kind not in ("none", "index n+1")), kind  # each fault is one
    assert refused_here == refused_by_decoder, kind


def test_garbage_is_refused():
    for data in (b"\xf8", b"\x80", bytes.fromhex("c2c100"), bytes.fromhex("c1" "80" "00")):
        with pytest.raises(InvalidAccessList):
            ListMemory(OverlayState(load_targets(["erc20:txs=2"])[0].pre_state), data, 2).enter_all()
