"""EIP-7928 block access lists (access/eip7928.py, access/eip7928_builder.py):
built from a serial run, encoded and decoded back, checked against their rules,
their final values equal to the block's post-state, and every kind of tampering
named."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from conftest import EEST, MAINNET, PRAGUE, require_data
from parexec.access.eip7928 import (
    ITEM_COST,
    AccountChanges,
    BlockAccessList,
    EncodedList,
    InvalidAccessList,
    decode,
    item_cap,
)
from parexec.access.eip7928_builder import build_access_list, first_difference, read_eip7928_list
from parexec.block.pipeline import execute_block
from parexec.block.validation import fork_lineage
from parexec.cli import main
from parexec.fixtures.targets import load_targets
from parexec.model import BALANCE, CODE, EMPTY_CODE_HASH, NONCE, STORAGE, FixtureError
from parexec.parallel.list_memory import ListMemory
from parexec.state.memory import MemoryState
from parexec.state.overlay import OverlayState
from parexec.state.view import read_value
from parexec.strategies.serial import SerialStrategy

from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth_hash.auto import keccak


def _targets():
    return load_targets([str(require_data(MAINNET)), str(require_data(PRAGUE)), "erc20:txs=60,hot=0.5",
                         "amm:txs=60,hot=0.5", "nft:txs=40"])


@pytest.fixture(scope="module")
def built():
    return [(t, build_access_list(t.block, t.pre_state)) for t in _targets()]


def test_lists_round_trip_and_keep_their_rules(built):
    for target, access_list in built:
        data = access_list.encode()
        assert decode(data) == access_list, target.name
        assert access_list.hash() == keccak(data)
        access_list.check(len(target.block.transactions))
    assert BlockAccessList().encode() == b"\xc0"  # the EIP: an empty list is rlp([])


def test_the_final_values_are_the_blocks_post_state(built):
    for target, access_list in built:
        outcome = execute_block(target.block, target.pre_state, SerialStrategy(), 1, with_state_root=False)
        post = OverlayState(target.pre_state)
        post.apply(outcome.state_diff, outcome.new_code)
        final = access_list.final_values()
        for key in outcome.state_diff:  # everything the block changed is in the list...
            if key[0] in (BALANCE, NONCE, CODE, STORAGE):
                assert key in final, (target.name, key)
        for key, value in final.items():  # ...with the value the block leaves
            expected = keccak(value) if key[0] == CODE and value else EMPTY_CODE_HASH if key[0] == CODE else value
            assert read_value(post, key) == expected, (target.name, key)


def _first_with(access_list, predicate):
    return next(i for i, a in enumerate(access_list.accounts) if predicate(a))


def _with_account(access_list, i, account):
    accounts = list(access_list.accounts)
    accounts[i] = account
    return BlockAccessList(tuple(accounts))


def test_tampered_lists_are_named(built):
    target, exact = next((t, a) for t, a in built if t.name == "mainnet/4370000")
    i = _first_with(exact, lambda a: a.balance_changes)
    a = exact.accounts[i]
    who = "0x" + a.address.hex()
    changed = _with_account(exact, i, replace(a, balance_changes=((a.balance_changes[0][0],
                                                                  a.balance_changes[0][1] + 1),)
                                             + a.balance_changes[1:]))
    assert first_difference(changed, exact).startswith(f"{who}: balance_changes")
    j = _first_with(exact, lambda a: a.storage_changes)
    b = exact.accounts[j]
    dropped = _with_account(exact, j, replace(b, storage_changes=b.storage_changes[1:]))
    slot = hex(b.storage_changes[0][0])
    assert first_difference(dropped, exact).startswith(f"0x{b.address.hex()}: storage slot {slot}")
    extra = BlockAccessList(exact.accounts + (AccountChanges(b"\xff" * 20, balance_changes=((1, 5),)),))
    assert first_difference(extra, exact) == "0x" + "ff" * 20 + " is in the list, but the block does not touch it"
    swapped = BlockAccessList((exact.accounts[1], exact.accounts[0]) + exact.accounts[2:])
    with pytest.raises(InvalidAccessList, match=r"accounts: .* \(out of order"):
        swapped.check(len(target.block.transactions))
    late = _with_account(exact, i, replace(a, balance_changes=((len(target.block.transactions) + 2, 1),)))
    with pytest.raises(InvalidAccessList, match="beyond the block"):
        late.check(len(target.block.transactions))
    both = _with_account(exact, j, replace(b, storage_reads=(b.storage_changes[0][0],)))
    with pytest.raises(InvalidAccessList, match="both changed and read"):
        both.check(None)
    assert first_difference(exact, exact) is None


@pytest.mark.parametrize("data, message", [
    (b"\xf8", "not RLP"),
    (b"\x80", "not a list of accounts"),
    (bytes.fromhex("c2c100"), "1 fields, not 6"),
    (bytes.fromhex("c7c6" + "80" + "c0c0c0c0c0"), "the address is not 20 bytes"),
])
def test_bad_encodings_are_refused(data, message):
    with pytest.raises(InvalidAccessList, match=message):
        decode(data)


def test_an_integer_with_leading_zeros_is_refused():
    account = AccountChanges(b"\x11" * 20, balance_changes=((1, 5),)).to_rlp()
    import rlp
    data = rlp.encode([[account[0], [], [], [[b"\x01", b"\x00\x05"]], [], []]])
    with pytest.raises(InvalidAccessList, match="leading zero"):
        decode(data)


def test_access_list_command_writes_eip7928_lists(tmp_path):
    block_dir = require_data(MAINNET) / "blocks" / "4370000"
    result = CliRunner().invoke(main, ["access-list", str(block_dir), "--format", "eip7928", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "EIP-7928 lists of 1 block, " in result.output  # one block: no plural
    rlp_file = next(tmp_path.glob("4370000-*.rlp"))
    assert rlp_file.with_suffix(".json").read_text().startswith("[\n{\"address\": \"0x")
    target = load_targets([str(block_dir)])[0]
    assert read_eip7928_list(rlp_file, target.block) == build_access_list(target.block, target.pre_state)
    refused = CliRunner().invoke(main, ["access-list", str(block_dir), "--format", "eip7928"])
    assert refused.exit_code == 2 and "give -o FOLDER" in refused.output


def test_a_lists_size_is_capped_by_its_blocks_gas_from_berlin_on(built):
    """At most gas limit / 2,000 items. From Berlin on (EIP-2929's access prices) an
    exact list keeps within it; before, accesses cost less, and mainnet 2462997's
    exact list (Homestead) holds several times as many, so no cap applies there."""
    over_before_berlin = []
    for target, access_list in built:
        block = target.block
        cap = item_cap(block)
        if "berlin" in fork_lineage(block.vm_class):
            assert cap == block.header.gas_limit // ITEM_COST, target.name
            assert access_list.items() <= cap, target.name
        else:
            assert cap is None, target.name
            if access_list.items() > block.header.gas_limit // ITEM_COST:
                over_before_berlin.append(block.number)
        assert EncodedList.of(access_list).decode_for(block) == access_list  # every exact list is read
    assert 2462997 in over_before_berlin
    target, access_list = next((t, a) for t, a in built if t.name.startswith("erc20"))
    n, items = len(target.block.transactions), access_list.items()
    access_list.check(n, items)  # at the cap: read
    too_many = f"{items:,} items .addresses and storage keys., over the block's cap of {items - 1:,}"
    with pytest.raises(InvalidAccessList, match=too_many):
        access_list.check(n, items - 1)
    ListMemory(OverlayState(target.pre_state), access_list.encode(), n, items).enter_all()
    with pytest.raises(InvalidAccessList, match=too_many):  # bal's memory of it, once entered whole
        ListMemory(OverlayState(target.pre_state), access_list.encode(), n, items - 1).enter_all()


@pytest.mark.parametrize("data", [
    bytes.fromhex("c281" "05"),  # a single byte below 0x80 given a length prefix
    bytes.fromhex("f8" "01" "80"),  # a long-form length for a short list
    bytes.fromhex("c1" "80" "00"),  # bytes after the list
    bytes.fromhex("c3" "c0" "c2c0"),  # an item that claims more than its list has left (rusty-rlp takes [[]])
    bytes.fromhex("c2" "c0" "f8"),  # an item cut off at the end of its list (ditto)
])
def test_only_canonical_rlp_is_read(data):
    with pytest.raises(InvalidAccessList, match="not RLP"):
        decode(data)
    with pytest.raises(InvalidAccessList):  # bal's memory of the list, entered whole
        ListMemory(OverlayState(MemoryState()), data, 1).enter_all()


def test_an_encoded_list_names_its_source_and_the_rule_it_breaks():
    a, b = AccountChanges(b"\x11" * 20, balance_changes=((1, 5),)), AccountChanges(b"\x22" * 20)
    out_of_order = BlockAccessList((b, a))
    listed = EncodedList(out_of_order.encode(), "lists/7-ab.rlp")
    with pytest.raises(FixtureError, match=r"lists/7-ab.rlp: not a valid EIP-7928 list: accounts: .*out of order"):
        listed.decode(1)
    with pytest.raises(FixtureError, match=r"lists/7-ab.rlp: not a valid EIP-7928 list: not RLP"):
        EncodedList(b"\xf8", "lists/7-ab.rlp").decode(1)
    assert EncodedList(BlockAccessList((a, b)).encode(), "x").decode(1).accounts == (a, b)


def test_the_slots_the_system_calls_only_read_are_among_storage_reads(tmp_path):
    """After the transactions the EIP-7002 and EIP-7251 dequeues read their queues.
    With nothing queued (this fixture's second block) they read slots 0-3 and
    change none, and the EIP lists both contracts with those slots among their
    storage_reads; read-only, no transaction's write shows them."""
    fixture = require_data(EEST / "v5.4.0/blockchain_tests/prague/eip7002_el_triggerable_withdrawals/"
                                  "test_eip_7002.json")
    made = CliRunner().invoke(main, ["access-list", str(fixture), "--format", "eip7928", "-o", str(tmp_path)])
    assert made.exit_code == 0, made.output
    (second,) = tmp_path.glob("2-*.json")
    accounts = {a["address"]: a for a in json.loads(second.read_text())}
    for queue in ("0x00000961ef480eb55e80d19ad83579a64c007002", "0x0000bbddc7ce488642fb579f8b00f3a590007251"):
        assert accounts[queue]["storage_reads"] == ["0x0", "0x1", "0x2", "0x3"], queue
        assert accounts[queue]["storage_changes"] == [], queue


def test_a_withdrawals_recipient_is_listed_whatever_the_amount():
    """The EIP lists withdrawal recipients "regardless of whether the withdrawal
    amount is non-zero": one of nothing to an account nothing else touches is
    listed, with no change."""
    target = load_targets([str(require_data(MAINNET / "blocks" / "19934116"))])[0]
    first, *rest = target.block.withdrawals
    nobody = b"\x77" * 20
    block = replace(target.block, withdrawals=(Withdrawal(first.index, first.validator_index, nobody, 0), *rest))
    listed = {a.address: a for a in build_access_list(block, target.pre_state).accounts}
    assert listed[nobody] == AccountChanges(nobody)
    assert {w.address for w in rest} <= set(listed)


def test_workload_blocks_with_other_transactions_get_lists_of_their_own(tmp_path):
    """Lists are filed by block number and hash; a synthetic block's header carries
    its transactions' root, so two workloads of one height do not share a file."""
    specs = ["erc20:txs=30", "chain:txs=20"]
    result = CliRunner().invoke(main, ["access-list", *specs, "--format", "eip7928", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("*.rlp"))) == 2
    for target in load_targets(specs):
        assert read_eip7928_list(next(tmp_path.glob(f"*-{target.block.header.hash.hex()[:16]}.rlp")),
                                 target.block) == build_access_list(target.block, target.pre_state)


def test_access_list_check_compares_given_lists_with_the_exact_ones(tmp_path):
    """`access-list --check` names, per block, an exact list (with its hash), the
    first difference of a wrong one, one that breaks the EIP's rules, and a block
    with no list; it exits 1 unless every list is exact."""
    specs = ["erc20:txs=30", "chain:txs=20"]
    assert CliRunner().invoke(main, ["access-list", *specs, "--format", "eip7928", "-o", str(tmp_path)]).exit_code == 0
    erc20, chain = load_targets(specs)
    exact = build_access_list(erc20.block, erc20.pre_state)
    result = CliRunner().invoke(main, ["access-list", *specs, "--check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"exact (hash 0x{exact.hash().hex()})" in result.output and "2 of 2 lists exact" in result.output
    i = _first_with(exact, lambda a: a.balance_changes)
    a = exact.accounts[i]
    index, value = a.balance_changes[0]
    changed = _with_account(exact, i, replace(a, balance_changes=((index, value + 1),) + a.balance_changes[1:]))
    mine = tmp_path / "mine.rlp"  # one file named otherwise: the list of each block that runs
    mine.write_bytes(changed.encode())
    result = CliRunner().invoke(main, ["access-list", "erc20:txs=30", "--check", str(mine)])
    assert result.exit_code == 1
    assert f"not exact: 0x{a.address.hex()}: balance_changes" in result.output
    mine.write_bytes(BlockAccessList(exact.accounts[::-1]).encode())  # out of order
    result = CliRunner().invoke(main, ["access-list", "erc20:txs=30", "--check", str(mine)])
    assert result.exit_code == 1 and "not exact: " in result.output and "not a valid EIP-7928 list" in result.output
    (tmp_path / "only").mkdir()
    next(tmp_path.glob(f"*-{chain.block.header.hash.hex()[:16]}.rlp")).rename(tmp_path / "only" / "x.rlp")
    result = CliRunner().invoke(main, ["access-list", *specs, "--check", str(tmp_path)])
    assert result.exit_code == 1 and "no EIP-7928 list given for it" in result.output
    refused = CliRunner().invoke(main, ["access-list", "erc20:txs=30", "--check", str(mine), "--format", "parexec"])
    assert refused.exit_code == 2 and "leave out --format parexec" in refused.output
