"""parexec bench: output, JSON rows, and failing loudly when a strategy differs from serial."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from parexec.cli import main
from parexec.strategies import STRATEGIES
from parexec.workloads import WorkloadError, build_workload
from parexec.workloads.synthetic import parse_spec


def run(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    return result.exit_code, result.output


def test_bench_writes_rows_for_every_strategy(tmp_path):
    out = tmp_path / "bench.json"
    code, text = run("bench", "erc20:txs=24", "chain:txs=12", "--workers", "2",
                     "--repeat", "1", "--json", out)
    assert code == 0, text
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert {(r["target"], r["strategy"]) for r in rows} == {
        (t, s) for t in ("erc20:txs=24", "chain:txs=12") for s in ("serial", "occ", "block-stm")
    }
    for r in rows:
        assert set(r) >= {"target", "strategy", "workers", "txs", "gas", "seconds", "speedup", "reexecutions"}
        assert r["seconds"] > 0 and r["speedup"] > 0
    serial = [r for r in rows if r["strategy"] == "serial"]
    assert all(r["speedup"] == 1.0 and r["workers"] == 1 for r in serial)
    assert all(r["coordinator_executions"] == r["txs"] for r in serial)
    parallel = [r for r in rows if r["strategy"] != "serial"]  # the coordinator executes some, workers the rest
    assert all(0 <= r["coordinator_executions"] <= r["executions"] for r in parallel)
    assert any(0 < r["coordinator_executions"] < r["executions"] for r in parallel)
    assert {r["txs"] for r in rows if r["target"] == "chain:txs=12"} == {12}
    assert data["machine"]["cpus"] >= 1
    assert "geometric-mean speedup of occ" in text


def test_bench_gives_each_rounds_ratio(tmp_path):
    out = tmp_path / "bench.json"
    code, text = run("bench", "transfers:txs=16", "--strategies", "occ", "--workers", "2",
                     "--repeat", "3", "--json", out)
    assert code == 0, text
    rows = {r["strategy"]: r for r in json.loads(out.read_text())["rows"]}
    serial, occ = rows["serial"]["runs"], rows["occ"]["runs"]
    assert len(serial) == len(occ) == 3
    assert rows["occ"]["round_speedups"] == pytest.approx([s / t for s, t in zip(serial, occ)])
    assert rows["serial"]["round_speedups"] == pytest.approx([1.0] * 3)
    low, high = min(rows["occ"]["round_speedups"]), max(rows["occ"]["round_speedups"])
    assert "per round" in text and f"{low:.2f}-{high:.2f}x" in text


def test_bench_fails_loudly_when_a_strategy_differs(monkeypatch):
    class Broken(STRATEGIES["serial"]):
        name = "broken"

        def run_transactions(self, env, block, state, workers):
            results, stats = super().run_transactions(env, block, state, workers)
            state.apply({("balance", b"\x01" * 20): 1})  # a wrong extra write
            return results, stats

    monkeypatch.setitem(STRATEGIES, "broken", Broken)
    code, text = run("bench", "transfers:txs=10", "--strategies", "broken", "--repeat", "1")
    assert code == 1
    assert "differs from serial in state_diff" in text


def test_bench_rejects_bad_targets():
    code, text = run("bench", "erc20:txs=abc")
    assert code == 2 and "txs must be a number" in text
    code, text = run("bench", "nonsense-target-that-does-not-exist")
    assert code == 2 and "no such file" in text
    code, text = run("bench", "transfers", "--strategies", "serial,bogus")
    assert code == 2 and "bogus" in text


def test_workload_specs():
    assert parse_spec("erc20:txs=5,hot=0.5,zipf=1.5") == (
        "erc20", {"txs": 5, "hot": 0.5, "seed": 0, "pools": 4, "accounts": 0, "zipf": 1.5, "blocks": 1,
                  "fork": "cancun"})
    with pytest.raises(WorkloadError):
        parse_spec("erc20:hot=2")
    with pytest.raises(WorkloadError):
        parse_spec("erc20:colour=red")
    block, pre = build_workload("transfers:txs=10,hot=0.5")
    senders = [tx.sender for tx in block.transactions]
    assert len(set(senders)) == 6  # 5 hot transactions share one sender
    assert all("sender" not in tx.__dict__ for tx in build_workload("erc20:txs=3")[0].transactions)
