"""Footprints and block access lists (``parexec access-list``): exact, round-trip,
and refused with a clear message when they do not belong to the block."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from parexec.access.access_list import block_access_list, load_access_list, write_access_list
from parexec.access.footprint import Footprint, static_footprint
from parexec.block.pipeline import execute_block
from parexec.cli import main
from parexec.model import (
    BALANCE_DELTA, BALANCE_FLOOR, CODE, EXISTS, NONCE, STORAGE, FixtureError,
)
from parexec.strategies import get_strategy
from parexec.workloads import build_workload


@pytest.fixture(scope="module")
def erc20():
    block, pre = build_workload("erc20:txs=12,hot=0.3")
    outcome = execute_block(block, pre, get_strategy("serial"), 1, with_state_root=False)
    return block, pre, outcome


def test_round_trip_gives_each_transactions_exact_footprint(erc20, tmp_path):
    block, _, outcome = erc20
    path = tmp_path / "al.json"
    write_access_list(block_access_list(block, outcome.tx_results), path)
    footprints = load_access_list(path, block)
    assert footprints == [Footprint.of_result(r) for r in outcome.tx_results]
    first = footprints[0]
    sender = block.transactions[0].sender
    assert first.sender == sender
    # the sender's balance is a floor (no amount), its payment a delta
    assert (BALANCE_FLOOR, sender) in first.reads and (BALANCE_DELTA, sender) in first.writes
    assert any(loc[0] == STORAGE for loc in first.writes)  # the token balances


def test_static_footprint_of_a_token_transfer_misses_its_slots(erc20):
    block, _, outcome = erc20
    tx, result = block.transactions[0], outcome.tx_results[0]
    declared = static_footprint(tx, tx.sender)
    assert {(NONCE, tx.sender), (BALANCE_FLOOR, tx.sender), (CODE, tx.to), (EXISTS, tx.to)} <= declared.reads
    actual = Footprint.of_result(result)
    assert not declared.covers(actual)  # the token's storage is not in the fields
    assert (declared | actual).covers(actual)


def _edited(tmp_path, block, outcome, edit):
    data = block_access_list(block, outcome.tx_results)
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["block"].update(number=1), "is for block 1"),
    (lambda d: d["transactions"].pop(), "11 transactions listed, the block has 12"),
    (lambda d: d["transactions"][3].update(hash="0x" + "00" * 32), "transaction 3 has hash"),
    (lambda d: d["transactions"][2]["reads"].append(["colour", "0x" + "11" * 20]), "transaction 2: bad location"),
    (lambda d: d["transactions"][2]["writes"].append(["nonce", "0x1234"]), "bad address"),
    (lambda d: d["transactions"][2]["writes"].append(["storage", "0x" + "11" * 20, 5]), "0x-prefixed"),
    (lambda d: d.update(format="something else"), "not a parexec block access list"),
    (lambda d: d["transactions"][4].update(sender="0x1234"), "transaction 4: bad address"),
])
def test_access_list_of_another_block_or_malformed_is_refused(erc20, tmp_path, edit, message):
    block, _, outcome = erc20
    path = _edited(tmp_path, block, outcome, edit)
    with pytest.raises(FixtureError, match=message) as info:
        load_access_list(path, block)
    assert str(path) in str(info.value)


def test_not_json_is_refused(erc20, tmp_path):
    block = erc20[0]
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(FixtureError, match="cannot read an access list"):
        load_access_list(path, block)


def test_cli_writes_a_loadable_access_list(erc20, tmp_path):
    block = erc20[0]
    out = tmp_path / "cli.json"
    result = CliRunner().invoke(main, ["access-list", "erc20:txs=12,hot=0.3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(load_access_list(out, block)) == 12


def test_cli_refuses_bad_specs_and_many_blocks_without_a_folder(tmp_path):
    result = CliRunner().invoke(main, ["access-list", "erc20:txs=-3"])
    assert result.exit_code == 2 and "error:" in result.output
    result = CliRunner().invoke(main, ["access-list", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such file" in result.output
    result = CliRunner().invoke(main, ["access-list", "erc20:txs=4", "transfers:txs=4"])
    assert result.exit_code == 2 and "give -o FOLDER" in result.output


def test_a_chain_gets_a_list_per_block_and_declared_strategies_use_them(tmp_path):
    """An ethereum/tests chain: one list per executed block, each found by hash."""
    from conftest import ETHEREUM_TESTS, require_data

    from parexec.access.access_list import AccessListHints
    from parexec.fixtures.discover import find_cases

    fixture = require_data(ETHEREUM_TESTS / "ValidBlocks" / "bcEIP1153-transientStorage" / "transStorageBlockchain.json")
    folder = tmp_path / "lists"
    result = CliRunner().invoke(main, ["access-list", str(fixture), "-o", str(folder)])
    assert result.exit_code == 0, result.output
    hints = AccessListHints(folder)
    found = []
    lookup = hints.footprints_for
    hints.footprints_for = lambda block: found.append(lookup(block)) or found[-1]
    for case in find_cases([fixture]):
        outcome = case.run(get_strategy("dag", hints=hints, min_parallel_txs=2), 2)
        assert outcome.status == "passed", outcome.detail
    assert len(found) >= 6 and all(f is not None and len(f) == 4 for f in found)


def test_mainnet_block_access_list_matches_its_serial_run(tmp_path):
    from conftest import MAINNET, require_data

    from parexec.fixtures.mainnet import load_block

    block_dir = require_data(MAINNET / "blocks" / "19923400")
    out = tmp_path / "19923400.json"
    result = CliRunner().invoke(main, ["access-list", str(block_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    block, pre, _ = load_block(block_dir)
    footprints = load_access_list(out, block)
    serial = execute_block(block, pre, get_strategy("serial"), 1, with_state_root=False)
    assert footprints == [Footprint.of_result(r) for r in serial.tx_results]
    # every transaction's fields declare a part of what it really touched
    for tx, fp in zip(block.transactions, footprints):
        declared = static_footprint(tx, tx.sender)
        assert (NONCE, tx.sender) in declared.reads & fp.reads
