"""``parexec analyze``: the dependency graph of hand-built and synthetic blocks whose
dependencies are known, at both granularities, and what is derived from it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from parexec.access.footprint import Footprint
from parexec.analysis.block_analysis import analyze
from parexec.analysis.block_profile import profile_block
from parexec.analysis.dependency_graph import DependencyGraph
from parexec.fixtures.targets import load_targets
from parexec.cli import main
from parexec.model import BALANCE, BALANCE_DELTA, BALANCE_FLOOR, NONCE, STORAGE

TOKEN, CB = b"\x70" * 20, b"\xc0" * 20
A, B, C = (bytes([i]) * 20 for i in (1, 2, 3))


def fp(reads=(), writes=(), sender=None):
    return Footprint(frozenset(reads), frozenset(writes), sender)


def slot(n):
    return (STORAGE, TOKEN, n)


def test_only_reads_of_what_an_earlier_transaction_wrote_last_are_dependencies():
    txs = [
        fp(reads={slot(1)}, writes={slot(1)}),  # 0
        fp(writes={slot(1)}),  # 1: a blind write: no dependency (write after write)
        fp(reads={slot(1)}),  # 2: reads what 1 wrote last, not 0
        fp(reads={slot(2)}),  # 3: nobody wrote slot 2
        fp(writes={slot(2)}),  # 4: write after read: no dependency
        fp(reads={slot(2), slot(1)}, writes={slot(3)}),  # 5: on 4 (slot 2) and 1 (slot 1)
    ]
    graph = DependencyGraph.of(txs, "slot")
    assert graph.preds == [set(), set(), {1}, set(), set(), {1, 4}]
    assert graph.causes[(4, 5)] == {slot(2)}
    assert graph.independent_share() == pytest.approx(4 / 6)
    assert graph.depths() == [0, 0, 1, 0, 0, 1]


def test_account_granularity_joins_what_slot_granularity_separates():
    txs = [fp(reads={slot(1)}, writes={slot(1)}), fp(reads={slot(2)}, writes={slot(2)}),
           fp(reads={slot(3)}, writes={slot(3)})]
    assert DependencyGraph.of(txs, "slot").preds == [set(), set(), set()]
    account = DependencyGraph.of(txs, "account")
    assert account.preds == [set(), {0}, {1}]
    assert account.hotspots() == [(TOKEN, 2)]


def test_fees_and_credits_are_no_dependency_unless_a_balance_is_observed():
    txs = [
        fp(writes={(BALANCE_DELTA, CB), (BALANCE_DELTA, A)}, sender=B),  # pays a fee, credits A
        fp(reads={(BALANCE_FLOOR, A), (NONCE, A)}, writes={(BALANCE_DELTA, A), (NONCE, A)}, sender=A),
        fp(reads={(BALANCE_FLOOR, CB)}, writes={(BALANCE_DELTA, CB)}, sender=CB),  # builder pays out
        fp(reads={(BALANCE, CB)}),  # observes the coinbase balance: all fees before it
    ]
    graph = DependencyGraph.of(txs, "slot")
    assert graph.preds == [set(), set(), set(), {0, 2}]
    assert graph.causes[(0, 3)] == {(BALANCE, CB)}


def test_hotspots_critical_path_and_bound_of_a_hand_built_block():
    # a hot slot read and written by 0, 2, 4 (a chain), the rest independent
    txs = [fp(reads={slot(9)}, writes={slot(9)}) if k % 2 == 0 else fp(writes={slot(k)}) for k in range(6)]
    graph = DependencyGraph.of(txs, "slot")
    assert graph.hotspots() == [(slot(9), 2)]
    weights = [1, 10, 1, 1, 1, 1]
    assert graph.critical_path(weights) == (10, [1])  # the heavy independent tx
    assert graph.critical_path([1] * 6) == (3, [0, 2, 4])


@pytest.mark.parametrize("spec, granularity, independent, depth", [
    ("transfers:txs=12", "slot", 12, 1),  # distinct senders and recipients
    ("transfers:txs=12", "account", 12, 1),
    ("erc20:txs=12", "slot", 12, 1),  # distinct holders: distinct balance slots
    ("erc20:txs=12", "account", 1, 12),  # all write the token account
    ("chain:txs=12", "slot", 1, 12),  # one counter
    ("transfers:txs=12,hot=0.5", "slot", 6 + 1, 6),  # a hot sender's nonce chain
])
def test_synthetic_blocks_have_the_graph_they_are_built_with(spec, granularity, independent, depth):
    profile = profile_block(load_targets([spec])[0], repeat=1)
    summary, graph = analyze(profile, granularity)
    assert summary["txs"] == 12 and summary["gas"] == sum(t.gas for t in profile.txs)
    assert round(summary["independent_share"] * 12) == independent
    assert summary["depth"] == depth
    assert summary["critical_path_seconds"] <= summary["tx_seconds"]
    assert summary["parallelism_bound"] == pytest.approx(summary["tx_seconds"] / summary["critical_path_seconds"])
    if depth == 12:  # a full chain: the critical path is the block
        assert summary["critical_path_txs"] == list(range(12))
        assert summary["parallelism_bound"] == pytest.approx(1.0)
        assert summary["hotspots"][0]["dependents"] == 11


def test_cli_writes_json_dot_and_png(tmp_path):
    out = tmp_path / "a.json"
    result = CliRunner().invoke(main, ["analyze", "chain:txs=6", "erc20:txs=6,hot=0.5", "--repeat", "1",
                                       "--json", str(out), "--dot", str(tmp_path / "dot"),
                                       "--png", str(tmp_path / "png")])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert [r["target"] for r in rows] == ["chain:txs=6", "erc20:txs=6,hot=0.5"]
    for key in ("target", "txs", "gas", "independent_share", "critical_path_gas", "critical_path_seconds",
                "parallelism_bound", "hotspots"):
        assert key in rows[0]
    assert {"address", "slot", "dependents"} <= set(rows[0]["hotspots"][0])
    dot = (tmp_path / "dot" / "chain_txs=6.dot").read_text()
    assert dot.startswith("digraph") and dot.count("->") == 5
    assert (tmp_path / "png" / "chain_txs=6.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_refuses_bad_targets():
    result = CliRunner().invoke(main, ["analyze", "chain:txs=0"])
    assert result.exit_code == 2 and "error:" in result.output


def test_the_png_layout_leaves_out_lone_transactions_and_labels_what_matters():
    """analyze --png: transactions with no dependency either way are counted, not
    drawn; a layer is in block order (lowest index on top); the critical path and
    the hot location's transactions are labelled even when there are too many
    transactions to label them all."""
    from parexec.report.dag_drawing import LABEL_ALL, layout

    for spec in ("erc20:txs=40,hot=0.5", "erc20:txs=400,hot=0.5"):  # 20 and 200 txs wait on one holder
        summary, graph = analyze(profile_block(load_targets([spec])[0], repeat=1))
        drawn = layout(graph, summary)
        linked = {t for edge in graph.edges for t in edge}
        assert set(drawn.position) == linked and drawn.alone == graph.size - len(linked) > 0
        assert set(summary["critical_path_txs"]) <= drawn.labelled
        if len(linked) <= LABEL_ALL:
            assert drawn.labelled == linked
        else:  # only the critical path and the hottest location's transactions
            hot = {t for edge in graph.edges_caused_by(graph.hotspots(1)[0][0]) for t in edge}
            assert drawn.labelled <= set(summary["critical_path_txs"]) | hot
        for layer in range(drawn.layers):
            column = sorted((tx, y) for tx, (x, y) in drawn.position.items() if x == layer)
            assert [y for _, y in column] == sorted((y for _, y in column), reverse=True)


def test_analyze_contract_names_the_slot_that_serializes_its_callers(tmp_path):
    """erc20 with a hot holder: over two blocks, the hot holder's balance slot of
    the token is what its callers wait on, in both blocks."""
    from parexec.workloads.synthetic import TOKEN

    out = tmp_path / "c.json"
    result = CliRunner().invoke(main, ["analyze", "erc20:txs=40,hot=0.5", "erc20:txs=40,hot=0.25,seed=1",
                                       "--repeat", "1", "--contract", "0x" + TOKEN.hex(), "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert len(data["blocks"]) == 2
    top = data["contract"]["locations"][0]
    assert top["address"] == "0x" + TOKEN.hex() and top["field"] == "storage" and top["blocks"] == 2
    assert top["waiting"] == 19 + 9 and top["share"] == 1.0  # every waiting transaction waits on it
    result = CliRunner().invoke(main, ["analyze", "erc20:txs=4", "--contract", "0x12"])
    assert result.exit_code == 2 and "not an address" in result.output
