"""Hostile input through the command line, a class a test: each ends in one line
naming the file or block (and the transaction and the rule where there is one),
status 2 for unreadable input and 1 for an invalid block, no traceback, and
nothing half written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import rlp
from click.testing import CliRunner

from conftest import EEST, ETHEREUM_TESTS, MAINNET, PRAGUE, require_data
from parexec.cli import INTERNAL_ERROR, main
from parexec.state.trie import rlp_length

BASEFEE = ETHEREUM_TESTS / "ValidBlocks" / "bcExample" / "basefeeExample.json"
LOW_GAS_LIMIT = ETHEREUM_TESTS / "GeneralStateTests" / "stEIP1559" / "lowGasLimit.json"
VALUE_OVERFLOW = ETHEREUM_TESTS / "GeneralStateTests" / "stTransactionTest" / "ValueOverflowParis.json"
GAS_CAP = EEST / "v5.4.0" / "blockchain_tests" / "osaka" / "eip7825_transaction_gas_limit_cap" / \
    "test_tx_gas_limit_cap_exceeded.json"
MAINNET_BLOCK = MAINNET / "blocks" / "19426587"


def cli(*args, env=None) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(main, list(map(str, args)), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output.strip().splitlines(), result.stderr


def error_line(output: list[str], stderr: str) -> str:
    """The one error line: on stderr, alone, no traceback."""
    assert "Traceback" not in "\n".join(output)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def blockchain_test(source: Path, tmp_path: Path, name: str, edit) -> Path:
    """A copy of the BlockchainTests file ``source`` with ``edit(test)`` applied to each test."""
    data = json.loads(require_data(source).read_text())
    for test in data.values():
        edit(test)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def mainnet_copy(tmp_path: Path) -> Path:
    """A writable copy of a mainnet block folder, beside links to the dataset's codes and hashes."""
    src = require_data(MAINNET_BLOCK)
    block_dir = tmp_path / "dataset" / "blocks" / src.name
    shutil.copytree(src, block_dir)
    for name in ("bytecodes.json.gz", "block_hashes.json"):
        (tmp_path / "dataset" / name).symlink_to(MAINNET / name)
    return block_dir


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def drop_expectations(test: dict) -> None:
    for block in test["blocks"]:
        block.pop("expectException", None)


# ---------------------------------------------------------------- unreadable files

def test_malformed_json_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1,\n  "b": }')
    code, out, err = cli("verify", bad)
    assert code == 2
    assert error_line(out, err) == f"error: {bad}: not valid JSON: Expecting value at line 2, column 8"


def test_non_utf8_json_is_refused(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    code, out, err = cli("verify", bad)
    assert code == 2
    assert error_line(out, err) == f"error: {bad}: not UTF-8 (byte 0xe9 at offset 13)"


def test_deeply_nested_json_is_refused_without_a_crash(tmp_path):
    """The user's report: py-evm raises the recursion limit to 100000 and the C
    decoder overflowed the C stack (exit 139). A real process, so a crash shows."""
    nested = tmp_path / "n.json"
    nested.write_text("[" * 200_000 + "]" * 200_000)
    done = subprocess.run([sys.executable, "-m", "parexec.cli", "verify", str(nested)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-500:]
    assert done.stderr.strip() == f"error: {nested}: JSON nested deeper than 512 levels"


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:
        fh.truncate(2**30 + 1)  # sparse: nothing is written
    code, out, err = cli("verify", huge)
    assert code == 2
    assert error_line(out, err) == f"error: {huge}: {2**30 + 1} bytes, over the 1024 MiB limit for a JSON file"


def test_a_bad_access_list_file_exits_2(tmp_path):
    block = require_data(MAINNET_BLOCK)
    hints = tmp_path / "al.json"
    hints.write_text('{"format": "parexec-block-access-list/1", "block": ')
    code, out, err = cli("run", block, "--strategy", "dag", "--workers", 2, "--hints", hints)
    assert code == 2
    assert error_line(out, err).startswith(f"error: {hints}: not valid JSON: Expecting value at line 1")


# ---------------------------------------------------------------- values out of range, fields

@pytest.mark.parametrize("field, value, message", [
    ("storage value", "0x1" + "0" * 64, "storage['0x03b6']: '0x1" + "0" * 64 + "' does not fit 256 bits"),
    ("storage key", "0x1" + "0" * 64, "storage slot: '0x1" + "0" * 64 + "' does not fit 256 bits"),
    ("balance", "0x1" + "0" * 64, "balance: '0x1" + "0" * 64 + "' does not fit 256 bits"),
    ("nonce", "0x10000000000000000", "nonce: '0x10000000000000000' does not fit 64 bits"),
    ("nonce", [1], "nonce: expected a number, got list [1]"),
    ("balance", "0xzz", "balance: '0xzz' is not a number"),
])
def test_pre_state_values_out_of_range_name_file_account_and_field(tmp_path, field, value, message):
    account = "0x000f3df6d732807ef1319fb7b8bb8522d0beac02"

    def edit(test):
        acc = test["pre"][account]
        if field == "storage value":
            acc["storage"]["0x03b6"] = value
        elif field == "storage key":
            acc["storage"] = {value: "0x01"}
        else:
            acc[field] = value

    path = blockchain_test(BASEFEE, tmp_path, "wide.json", edit)
    code, out, _ = cli("verify", path)
    assert code == 2
    assert out[0] == f"FAILED wide.json::basefeeExample_Cancun: malformed test: pre: account '{account}': {message}"
    assert out[-1] == "0 passed, 1 failed"


def test_mainnet_values_out_of_range_name_the_file_account_tx_and_field(tmp_path):
    block_dir = mainnet_copy(tmp_path)
    pre = json.loads((block_dir / "pre_state.json").read_text())
    account = next(iter(pre))
    pre[account]["nonce"] = 2**64
    (block_dir / "pre_state.json").write_text(json.dumps(pre))
    code, out, err = cli("run", block_dir)
    assert code == 2
    assert error_line(out, err) == (f"error: {block_dir}/pre_state.json: account '{account}': nonce: "
                                    f"{2**64} does not fit 64 bits")
    edit_json(block_dir / "block.json", lambda b: b["transactions"][2].update(gas=hex(2**64)))
    code, out, err = cli("run", block_dir)
    assert code == 2
    assert error_line(out, err) == f"error: {block_dir}/block.json: tx 2: gas {hex(2**64)} does not fit 64 bits"
    code, out, _ = cli("verify", block_dir)  # verify: the same line, as the block's failure
    assert code == 2 and out[0].startswith("FAILED mainnet/19426587: malformed fixture:")


def test_mainnet_header_gas_limit_out_of_range(tmp_path):
    block_dir = mainnet_copy(tmp_path)
    edit_json(block_dir / "block.json", lambda b: b.update(gasLimit=hex(2**64)))
    code, out, err = cli("run", block_dir)
    assert code == 2
    assert error_line(out, err) == (f"error: {block_dir}/block.json: header field gasLimit {hex(2**64)} "
                                    "does not fit 64 bits")


def test_missing_fields_are_named_and_extra_fields_ignored(tmp_path):
    path = blockchain_test(BASEFEE, tmp_path, "missing.json", lambda t: t.pop("genesisRLP"))
    code, out, _ = cli("verify", path)
    assert code == 2
    assert out[0] == "FAILED missing.json::basefeeExample_Cancun: malformed test: missing field 'genesisRLP'"

    block_dir = mainnet_copy(tmp_path)
    edit_json(block_dir / "block.json", lambda b: b["transactions"][5].pop("nonce"))
    code, out, err = cli("run", block_dir)
    assert code == 2
    assert error_line(out, err) == f"error: {block_dir}/block.json: tx 5: missing field 'nonce'"

    def extra(test):  # fields parexec does not read are ignored, as clients ignore them
        test["comment"] = {"anything": [1, 2]}
        test["pre"]["0x000f3df6d732807ef1319fb7b8bb8522d0beac02"]["futureField"] = "0x1"

    code, out, _ = cli("verify", blockchain_test(BASEFEE, tmp_path, "extra.json", extra))
    assert code == 0 and out[-1] == "1 passed, 0 failed"


# ---------------------------------------------------------------- invalid blocks

def _edit_block_rlp(test: dict, edit) -> None:
    block = rlp.decode(bytes.fromhex(test["blocks"][0]["rlp"][2:]))
    edit(block)
    test["blocks"][0]["rlp"] = "0x" + rlp.encode(block).hex()


def _bad_signature(block) -> None:
    tx = block[1][0]
    payload = rlp.decode(tx[1:])
    payload[-2] = b""  # r = 0: no public key recovers
    block[1][0] = tx[:1] + rlp.encode(payload)


def _overrunning_item(test: dict) -> None:
    """The block with an item after its transactions that claims two bytes where
    its list has one left: not RLP (rusty-rlp alone would end the list there and
    give the block as it was)."""
    header, txs, *rest = rlp.decode(bytes.fromhex(test["blocks"][0]["rlp"][2:]))
    payload = b"".join(rlp.encode(tx) for tx in txs) + bytes.fromhex("c2c0")
    body = rlp.encode(header) + rlp_length(len(payload), 0xC0) + payload + b"".join(rlp.encode(x) for x in rest)
    test["blocks"][0]["rlp"] = "0x" + (rlp_length(len(body), 0xC0) + body).hex()


@pytest.mark.parametrize("source, edit, expect, line", [
    (BASEFEE, lambda t: _edit_block_rlp(t, _bad_signature), "TransactionException.INVALID_SIGNATURE_VRS",
     "block 1: rejected (tx 0: invalid signature: failed to recover ECDSA public key [INVALID_SIGNATURE_VRS])"),
    (BASEFEE, lambda t: _edit_block_rlp(t, lambda b: b[1].append(b[1][0])),
     "TransactionException.NONCE_MISMATCH_TOO_LOW", "block 1: rejected (tx 1: invalid transaction: "),
    (BASEFEE, lambda t: t["blocks"][0].update(rlp="0xf90200deadbeef"), "BlockException.RLP_STRUCTURES_ENCODING",
     "block 1: rejected (block RLP is malformed [RLP_STRUCTURES_ENCODING])"),
    (BASEFEE, _overrunning_item, "BlockException.RLP_STRUCTURES_ENCODING",
     "block 1: rejected (block RLP is malformed [RLP_STRUCTURES_ENCODING])"),
    (LOW_GAS_LIMIT, None, None, "block at position 1 of the test: rejected (tx 0: transaction gas limit 90000 exceeds the block's "
                                "remaining gas 80000 [GAS_ALLOWANCE_EXCEEDED])"),
    (GAS_CAP, None, None, "block at position 1 of the test: rejected (tx 0: invalid transaction: transaction gas limit 16777217 exceeds "
                          "the cap 16777216 (EIP-7825) [GAS_LIMIT_EXCEEDS_MAXIMUM])"),
    (VALUE_OVERFLOW, None, None, "block at position 1 of the test: rejected (tx 0: invalid transaction: Transaction.value exceeds"),
], ids=["bad-signature", "duplicate-tx", "malformed-rlp", "overrunning-item", "block-gas-limit", "tx-gas-cap", "rlp-invalid-value"])
def test_invalid_blocks_pass_when_expected_and_fail_on_one_line_when_not(tmp_path, source, edit, expect, line):
    """As the test expects it (the fixture's own expectException, or the one set
    here), the rejection passes; with the expectation dropped, the case fails with
    one line naming the block, the transaction and the rule, status 1."""
    def expected(test):
        if edit is not None:  # the block is rejected: the chain stays at its genesis
            edit(test)
            test["blocks"][0]["expectException"] = expect
            test["lastblockhash"], test["postState"] = test["genesisBlockHeader"]["hash"], test["pre"]

    code, out, _ = cli("verify", blockchain_test(source, tmp_path, "expected.json", expected))
    assert code == 0 and out[-1].endswith(" 0 failed"), out
    path = blockchain_test(source, tmp_path, "unexpected.json", lambda t: (expected(t), drop_expectations(t)))
    code, out, _ = cli("verify", path)
    assert code == 1
    failures = [o for o in out if o.startswith("FAILED ")]
    assert failures and all(": block 1: rejected (" in f or ": block at position 1 of the test: rejected (" in f
                            for f in failures)  # by number, where the test gives the block's header
    assert any(line in f for f in failures), failures
    assert "Traceback" not in "\n".join(out)


def test_a_duplicate_transaction_in_a_mainnet_block_exits_1_naming_the_tx(tmp_path):
    block_dir = mainnet_copy(tmp_path)
    edit_json(block_dir / "block.json", lambda b: b["transactions"].insert(1, b["transactions"][0]))
    code, out, err = cli("run", block_dir)
    assert code == 1
    assert error_line(out, err).startswith("error: mainnet/19426587 is invalid: tx 1: invalid transaction: ")
    assert err.strip().endswith("[NONCE_MISMATCH_TOO_LOW]")


def test_a_bad_signature_in_a_mainnet_block_exits_1_naming_the_tx(tmp_path):
    from parexec.fixtures.mainnet import tx_fields_from_rpc
    from parexec.fixtures.transactions import build_transaction, hex_int
    from parexec.forks import vm_for_mainnet_block

    block_dir = mainnet_copy(tmp_path)

    def forge(block):  # r = 0, and the hash to match: only the signature is wrong
        vm = vm_for_mainnet_block(hex_int(block["number"]), timestamp=hex_int(block["timestamp"]))
        rtx = block["transactions"][3]
        fields = tx_fields_from_rpc(rtx)
        fields.r = 0
        rtx.update(r="0x0", hash="0x" + build_transaction(vm, fields).hash.hex())

    edit_json(block_dir / "block.json", forge)
    code, out, err = cli("run", block_dir)
    assert code == 1
    assert error_line(out, err) == (f"error: {block_dir} is invalid: tx 3: invalid signature: failed to recover "
                                    "ECDSA public key [INVALID_SIGNATURE_VRS]")


def test_an_unknown_fork_is_skipped_in_a_test_and_refused_in_a_dump(tmp_path):
    path = blockchain_test(BASEFEE, tmp_path, "fork.json", lambda t: t.update(network="NoSuchFork"))
    code, out, _ = cli("verify", path)
    assert code == 0 and out[-1] == "0 passed, 0 failed, 1 skipped"
    assert "NoSuchFork" in out[-2]
    src = require_data(PRAGUE / "22546209")
    dump = tmp_path / "prague"
    dump.mkdir()
    for name in ("txs.json", "pre_state.json"):
        (dump / name).symlink_to(src / name)
    block = json.loads((src / "block.json").read_text())
    block["spec_id"] = "NoSuchFork"
    (dump / "block.json").write_text(json.dumps(block))
    code, out, err = cli("run", dump)
    assert code == 2
    line = error_line(out, err)
    assert line.startswith(f"error: {dump}: ") and "NoSuchFork" in line


# ---------------------------------------------------------------- access lists

def test_a_tampered_location_list_cannot_change_a_result(tmp_path):
    """parexec's lists are hints: a malformed one is refused (2), a wrong one
    costs time, never the result."""
    block = require_data(MAINNET_BLOCK)
    hints = tmp_path / "al.json"
    assert cli("access-list", block, "-o", hints)[0] == 0
    data = json.loads(hints.read_text())
    data["transactions"][3]["reads"][0] = ["storage", "0x12", "0x1"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code, out, err = cli("run", block, "--strategy", "dag", "--workers", 2, "--hints", bad)
    assert code == 2
    assert error_line(out, err) == f"error: {bad}: transaction 3: bad address '0x12'"
    data = json.loads(hints.read_text())
    data["transactions"][3]["writes"] = []
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(data))
    roots = []
    for extra in ([], ["--hints", wrong]):
        out_json = tmp_path / f"run{len(roots)}.json"
        code, out, _ = cli("run", block, "--strategy", "dag", "--workers", 2, "--json", out_json, *extra)
        assert code == 0
        roots.append(json.loads(out_json.read_text())["rows"][0]["receipts_root"])
    assert roots[0] == roots[1]


def test_a_tampered_eip7928_list_makes_the_block_invalid_and_a_garbled_one_unreadable(tmp_path):
    from dataclasses import replace

    from parexec.access.eip7928 import BlockAccessList, decode

    block = require_data(MAINNET_BLOCK)
    folder = tmp_path / "lists"
    assert cli("access-list", block, "--format", "eip7928", "-o", folder)[0] == 0
    (file,) = folder.glob("*.rlp")
    original = file.read_bytes()
    accounts = list(decode(original).accounts)
    k = next(k for k, a in enumerate(accounts) if a.balance_changes)
    (i, value), *rest = accounts[k].balance_changes
    accounts[k] = replace(accounts[k], balance_changes=((i, value + 1), *rest))
    file.write_bytes(BlockAccessList(tuple(accounts)).encode())
    code, out, err = cli("run", block, "--strategy", "bal", "--workers", 1, "--hints", folder)
    assert code == 1
    line = error_line(out, err)
    assert line.startswith(f"error: mainnet/19426587 is invalid: invalid access list: tx {i - 1} leaves balance of ")
    assert line.endswith(f"the list says {value + 1} [eip7928]")
    file.write_bytes(original[: len(original) // 2])
    code, out, err = cli("run", block, "--strategy", "bal", "--workers", 1, "--hints", folder)
    assert code == 2
    assert error_line(out, err) == f"error: {file}: not a valid EIP-7928 list: not RLP: RlpIsTooShort"


# ---------------------------------------------------------------- a node that answers garbage

class GarbageNode:
    """A JSON-RPC node on loopback that answers every request with ``reply(body)``."""

    def __init__(self, reply):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                payload = reply(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _answers(results):
    return lambda calls: json.dumps([{"jsonrpc": "2.0", "id": c["id"], "result": r}
                                     for c, r in zip(calls, results(calls))]).encode()


@pytest.mark.parametrize("reply, reason", [
    (lambda calls: b"[" * 100_000 + b"]" * 100_000, "not JSON (the reply: JSON nested deeper than 512 levels)"),
    (lambda calls: b"\xff\xfe[]", "not JSON (the reply: not UTF-8 (byte 0xff at offset 0))"),
    (_answers(lambda calls: [{"number": "0x5", "transactions": [{"nonce": [1]}]}, [{}]]), "block 5: "),
    (_answers(lambda calls: [{"number": "0x5", "hash": "0x00", "timestamp": "0xzz", "transactions": []}, []]),
     "block 5: "),
], ids=["deeply-nested", "not-utf8", "bad-trace", "bad-block-fields"])
def test_a_node_that_answers_garbage_fails_the_block_and_writes_nothing(tmp_path, reply, reason):
    out = tmp_path / "dump"
    with GarbageNode(reply) as node:
        code, lines, err = cli("fetch", "--rpc", node.url, "--out", out, "--attempts", 1, "--timeout", 5, 5)
    assert code == 1, (lines, err)
    assert "Traceback" not in "\n".join(lines)
    failed = [line for line in lines if line.startswith("failed 5: ")]
    assert len(failed) == 1 and reason in failed[0], lines
    assert lines[-1] == "0 fetched, 0 already there, 1 failed"
    assert not any((out / "blocks").iterdir())
    assert not (out / ".partial").exists() or not any((out / ".partial").iterdir())


# ---------------------------------------------------------------- the chain store

def test_a_rejected_block_leaves_the_chain_store_at_its_parent(tmp_path):
    db = tmp_path / "db"
    path = blockchain_test(BASEFEE, tmp_path, "sig.json", lambda t: _edit_block_rlp(t, _bad_signature))
    code, out, _ = cli("chain", "init", "--db", db, "--fixture", path)
    assert code == 0, out
    genesis = out[0].split(" at block 0 ")[1].split(",")[0]
    code, out, _ = cli("chain", "import", "--db", db, "--no-pipeline", path)
    assert code == 1
    assert "Traceback" not in "\n".join(out)
    assert any(line.startswith("rejected: basefeeExample_Cancun block 1: ") for line in out), out  # by its number
    assert out[-1] == f"head: block 0 {genesis}; 0 already on the chain, 1 rejected"


def test_a_malformed_genesis_creates_no_store(tmp_path):
    db = tmp_path / "db"
    path = blockchain_test(BASEFEE, tmp_path, "wide.json",
                           lambda t: t["pre"]["0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b"].update(balance="0x" + "f" * 65))
    code, out, err = cli("chain", "init", "--db", db, "--fixture", path)
    assert code == 2
    assert error_line(out, err) == ("error: pre: account '0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b': "
                                    f"balance: '0x{'f' * 65}' does not fit 256 bits")
    assert not db.exists()


# ---------------------------------------------------------------- what nobody foresaw

def test_an_error_raised_once_the_command_has_ended_is_one_line_too(monkeypatch):
    """Out of memory, CPython may raise a SystemError ("error return without
    exception set") as the command returns, past the group's own handler (seen
    in `bench` under a 200 MiB limit): it too ends in one line, status 70."""
    import click

    def late(self, *args, **kwargs):
        raise SystemError("error return without exception set")

    monkeypatch.setattr(click.Group, "main", late)
    result = CliRunner().invoke(main, ["strategies"])
    assert result.exit_code == INTERNAL_ERROR and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == "parexec: internal error: SystemError: error return without exception set"


def test_debug_lets_an_error_raised_once_the_command_has_ended_through(monkeypatch):
    """--debug, as click parsed it (the flag or PAREXEC_DEBUG), holds for the late error too."""
    import click

    original = click.Group.main

    def ran_then_late(self, *args, **kwargs):
        original(self, *args, **{**kwargs, "standalone_mode": False})  # the command runs, and ends
        raise SystemError("error return without exception set")

    monkeypatch.setattr(click.Group, "main", ran_then_late)
    for args, env in ((["--debug", "strategies"], None), (["strategies"], {"PAREXEC_DEBUG": "yes"})):
        result = CliRunner().invoke(main, args, env=env)
        assert isinstance(result.exception, SystemError), (args, env, result.output)
    for env in (None, {"PAREXEC_DEBUG": "off"}):
        result = CliRunner().invoke(main, ["strategies"], env=env)
        assert result.exit_code == INTERNAL_ERROR and "Traceback" not in result.output, env


def test_an_internal_error_is_one_line_with_status_70_and_debug_shows_the_traceback(monkeypatch):
    import parexec.report.tables

    def broken(rows):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(parexec.report.tables, "strategies_table", broken)
    code, out, err = cli("strategies")
    assert code == INTERNAL_ERROR == 70
    assert error_line(out, err) == "parexec: internal error: RuntimeError: boom second line"
    for args, env in ((["--debug", "strategies"], None), (["strategies"], {"PAREXEC_DEBUG": "1"})):
        result = CliRunner().invoke(main, args, env=env)
        assert isinstance(result.exception, RuntimeError) and result.exit_code == 1
