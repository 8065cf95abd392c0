"""`parexec fetch` against a JSON-RPC node on loopback (tests/rpc_node.py) that
answers from the shared mainnet dumps: what it writes equals the originals and
verifies, through a rate limit, a timeout and a malformed reply; it resumes; it
fills the tracer's gaps from the node; a node that answers garbage, lacks the
debug API or contradicts itself gets a message naming the block."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from conftest import MAINNET, require_data
from parexec.cli import main
from parexec.rpc.fetch import parse_block_list
from parexec.rpc.prestate import MalformedTrace, merge_traces
from rpc_node import FakeNode

# a node's answer must come well within the timeout, and the injected stall well past it:
# with a 2 s timeout a slow, busy machine once timed out an ordinary answer too
TIMEOUT, STALL = 6, 9.0


def fetch(node, out, *blocks, timeout=str(TIMEOUT), attempts="6", env=None):
    args = ["fetch", "--out", str(out), "--timeout", timeout, "--attempts", attempts, *map(str, blocks)]
    if env is None:
        args += ["--rpc", node.url]
    return CliRunner().invoke(main, args, env=env)


def original(n: int, name: str):
    return json.loads((MAINNET / "blocks" / str(n) / name).read_text())


def fetched(out, n: int, name: str):
    return json.loads((out / "blocks" / str(n) / name).read_text())


def test_fetch_writes_what_the_dumps_hold_through_a_rate_limit_a_timeout_and_garbage(tmp_path):
    """Every shared mainnet block, fetched back."""
    blocks = sorted(int(p.name) for p in (require_data(MAINNET) / "blocks").iterdir())
    out = tmp_path / "dump"
    with FakeNode(MAINNET, faults={1: "rate-limit", 3: "timeout", 5: "malformed"}, stall=STALL).prepare(blocks) as node:
        result = fetch(node, out, *blocks)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"{len(blocks)} fetched, 0 already there, 0 failed"
    assert "1 after malformed reply, 1 after rate limit, 1 after timeout" in result.output
    for n in blocks:
        assert fetched(out, n, "block.json") == original(n, "block.json"), n
        assert fetched(out, n, "pre_state.json") == original(n, "pre_state.json"), n
    with gzip.open(MAINNET / "bytecodes.json.gz", "rt") as fh:
        codes = json.load(fh)
    with gzip.open(out / "bytecodes.json.gz", "rt") as fh:
        got = json.load(fh)
    assert got and all(codes[h] == code for h, code in got.items())
    hashes = json.loads((out / "block_hashes.json").read_text())
    expected = json.loads((MAINNET / "block_hashes.json").read_text())
    # what BLOCKHASH reads (the dataset's file also lists parents, which come from the header)
    assert set(hashes) == {"4864586", "7279997", "8889773", "8889774", "9068996", "19923393", "19932700"}
    assert all(expected[n] == h for n, h in hashes.items())
    verified = CliRunner().invoke(main, ["verify", str(out)])
    assert verified.exit_code == 0 and f"{len(blocks)} passed, 0 failed" in verified.output, verified.output


def test_fetch_resumes_whole_blocks_and_redoes_half_ones(tmp_path):
    require_data(MAINNET)
    out = tmp_path / "dump"
    blocks = (4864590, 1150000)
    with FakeNode(MAINNET).prepare(blocks) as node:
        assert fetch(node, out, *blocks).exit_code == 0
        (out / "blocks" / "1150000" / "pre_state.json").unlink()  # a half-written block
        (out / ".partial" / "4864590").mkdir(parents=True)  # an interrupted write
        result = fetch(node, out, "1150000", "4864590")
        assert result.output.splitlines()[-1] == "1 fetched, 1 already there, 0 failed", result.output
        assert not (out / ".partial").exists() or not any((out / ".partial").iterdir())
        assert fetched(out, 1150000, "pre_state.json") == original(1150000, "pre_state.json")
        again = fetch(node, out, "1150000-1150000", "4864590", env={"PAREXEC_RPC_URL": node.url})
    assert again.exit_code == 0 and again.output.splitlines()[-1] == "0 fetched, 2 already there, 0 failed"


def test_what_the_tracer_leaves_out_is_asked_of_the_node(tmp_path):
    require_data(MAINNET)
    n = 4864590
    sender = original(n, "block.json")["transactions"][0]["from"]
    out = tmp_path / "dump"
    with FakeNode(MAINNET, omit=[sender]).prepare([n]) as node:
        result = fetch(node, out, n)
        assert "eth_getBalance" in node.methods and "eth_getTransactionCount" in node.methods
    assert result.exit_code == 0, result.output
    assert "accounts and slots the tracer left out" in result.output
    assert fetched(out, n, "pre_state.json") == original(n, "pre_state.json")


def test_a_node_that_answers_garbage_is_named_with_the_block(tmp_path):
    require_data(MAINNET)
    with FakeNode(MAINNET, garbage=True) as node:
        result = fetch(node, tmp_path / "dump", 4370000, attempts="2")
    assert result.exit_code == 1
    assert "failed 4370000: block 4370000: 2 attempts failed; the last: not JSON" in result.output
    assert not (tmp_path / "dump" / "blocks" / "4370000").exists()


def test_a_node_that_contradicts_itself_writes_nothing(tmp_path):
    require_data(MAINNET)
    n = 4370000
    sender = original(n, "block.json")["transactions"][0]["from"]
    with FakeNode(MAINNET, zero_balance=[sender]).prepare([n]) as node:
        result = fetch(node, tmp_path / "dump", n)
    assert result.exit_code == 1
    assert f"failed {n}: block {n}: it does not execute on the fetched state" in result.output
    assert not (tmp_path / "dump" / "blocks" / str(n)).exists()


def test_a_node_without_the_debug_api_stops_fetch_at_once(tmp_path):
    require_data(MAINNET)
    with FakeNode(MAINNET, no_debug=True) as node:
        result = fetch(node, tmp_path / "dump", 4370000, 4864590)
    assert result.exit_code == 1
    assert "does not serve debug_traceBlockByNumber" in result.output and "archive node" in result.output


@pytest.mark.parametrize("args, message", [
    (["--rpc", "ftp://node", "1"], "must start with http"),
    (["--rpc", "http://127.0.0.1:9", "17-3"], "from a lower to a higher"),
    (["--rpc", "http://127.0.0.1:9", "latest"], "a number N or a range"),
])
def test_bad_arguments_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(main, ["fetch", "--out", str(tmp_path / "d"), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_block_lists():
    assert parse_block_list(["5", "3-4", "4", "10-10"]) == [5, 3, 4, 10]


def test_merging_traces_keeps_each_first_sight():
    a = "0x" + "11" * 20
    traces = [
        {"result": {a: {"balance": "0x10", "nonce": 1, "storage": {"0x" + "00" * 31 + "01": "0x" + "00" * 31 + "05"}}}},
        {"result": {a: {"balance": "0x7", "nonce": 2, "code": "0x6000",
                        "storage": {"0x" + "00" * 31 + "01": "0x09", "0x02": "0x0"}}}},
    ]
    pre = merge_traces(traces, 2)
    assert pre.accounts[a] == {"balance": "0x10", "nonce": 1, "storage": {"0x1": "0x5", "0x2": "0x0"}}
    assert pre.codes == {}  # the code appeared only after the first sight: not the pre-state's
    with pytest.raises(MalformedTrace, match="2 traces for 3 transactions"):
        merge_traces(traces, 3)
    with pytest.raises(MalformedTrace, match="tx 0: malformed account"):
        merge_traces([{"result": {"0x12": {"balance": "0x1"}}}], 1)
    with pytest.raises(MalformedTrace, match="tx 0: the tracer failed: execution timeout"):
        merge_traces([{"error": "execution timeout"}], 1)
