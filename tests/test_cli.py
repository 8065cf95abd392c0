"""The verify command: output format, exit codes, bad input."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from conftest import ETHEREUM_TESTS, MAINNET, require_data
from parexec.cli import main

SMALL_TEST_FILE = ETHEREUM_TESTS / "ValidBlocks" / "bcExample" / "basefeeExample.json"


def run(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    lines = result.output.strip().splitlines()
    return result.exit_code, lines


def test_verify_mainnet_block_passes():
    block = require_data(MAINNET / "blocks" / "19426587")
    code, lines = run("verify", block, "--strategy", "serial")
    assert lines[-1] == "1 passed, 0 failed"
    assert code == 0


def test_verify_test_file_counts_every_test():
    path = require_data(SMALL_TEST_FILE)
    n = len(json.loads(path.read_text()))
    code, lines = run("verify", path)
    assert lines[-1] == f"{n} passed, 0 failed"
    assert code == 0


def test_wrong_post_state_is_reported_with_first_difference(tmp_path):
    data = json.loads(require_data(SMALL_TEST_FILE).read_text())
    name, test = next(iter(data.items()))
    address, account = next(iter(test["postState"].items()))
    account["balance"] = hex(int(account["balance"], 16) + 1)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps({name: test}))
    code, lines = run("verify", path)
    assert code == 1
    assert lines[-1] == "0 passed, 1 failed"
    assert lines[0].startswith(f"FAILED tampered.json::{name}: postState {address} balance: expected")


def test_a_fork_not_live_on_mainnet_is_skipped(tmp_path):
    data = json.loads(require_data(SMALL_TEST_FILE).read_text())
    name, test = next(iter(data.items()))
    test["network"] = "Amsterdam"
    path = tmp_path / "amsterdam.json"
    path.write_text(json.dumps({name: test}))
    code, lines = run("verify", path)
    assert lines[-2] == "skipped 1: fork rules 'Amsterdam' are not live on mainnet (parexec runs Frontier to BPO2)"
    assert lines[-1] == "0 passed, 0 failed, 1 skipped"
    assert code == 0


def broke_first_sender(tmp_path):
    """A copy of a mainnet block whose first sender cannot pay: the block is invalid."""
    src = require_data(MAINNET / "blocks" / "19426587")
    dataset = tmp_path / "dataset"
    block_dir = dataset / "blocks" / src.name
    shutil.copytree(src, block_dir)
    for name in ("bytecodes.json.gz", "block_hashes.json"):
        (dataset / name).symlink_to(MAINNET / name)
    block = json.loads((block_dir / "block.json").read_text())
    sender = block["transactions"][0]["from"]
    pre = json.loads((block_dir / "pre_state.json").read_text())
    pre[sender]["balance"] = "0x0"
    (block_dir / "pre_state.json").write_text(json.dumps(pre))
    return dataset, block_dir


def test_invalid_transaction_in_mainnet_block_is_rejected_clearly(tmp_path):
    dataset, _ = broke_first_sender(tmp_path)
    code, lines = run("verify", dataset)
    assert code == 1
    assert lines[-1] == "0 passed, 1 failed"
    assert "block rejected: tx 0: invalid transaction" in lines[0]


def test_missing_path_exits_2_with_message(tmp_path):
    code, lines = run("verify", tmp_path / "nope")
    assert code == 2
    assert "no such file or folder" in lines[-1]


def test_malformed_json_exits_2_with_message(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    code, lines = run("verify", bad)
    assert code == 2
    assert "not valid JSON" in lines[-1]


def test_folder_without_fixtures_exits_2(tmp_path):
    code, lines = run("verify", tmp_path)
    assert code == 2
    assert "no fixtures found" in lines[-1]


def test_unknown_strategy_is_refused():
    code, lines = run("verify", ".", "--strategy", "nonsense")
    assert code == 2
    assert "nonsense" in "\n".join(lines)


def test_run_shows_what_a_strategy_did_and_gives_serials_receipts(tmp_path):
    block = require_data(MAINNET / "blocks" / "19426587")
    hints = tmp_path / "al.json"
    assert run("access-list", block, "-o", hints)[0] == 0
    rows = {}
    for strategy, extra in (("serial", []), ("dag", ["--hints", hints])):
        out = tmp_path / f"{strategy}.json"
        code, lines = run("run", block, "--strategy", strategy, "--workers", 2, "--json", out, *extra)
        assert code == 0, lines
        rows[strategy] = json.loads(out.read_text())["rows"][0]
    serial, dag = rows["serial"], rows["dag"]
    assert dag["receipts_root"] == serial["receipts_root"] and dag["gas"] == serial["gas"] > 0
    assert dag["mode"] == "parallel" and dag["executions"] >= dag["txs"] == 37
    assert dag["counters"]["pre_executions"] == 0  # the access list replaced pre-execution
    assert "lock_waits" in dag["counters"] and not serial["counters"]


def test_run_exits_1_on_an_invalid_block_and_2_on_bad_input(tmp_path):
    _, block_dir = broke_first_sender(tmp_path)
    code, lines = run("run", block_dir, "--strategy", "occ", "--workers", 2)
    assert code == 1 and "is invalid" in lines[-1] and "tx 0" in lines[-1]
    code, lines = run("run", "erc20:txs=zero")
    assert code == 2 and lines[-1].startswith("error:")
