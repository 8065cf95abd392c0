"""The schedule debugger: run traces (parallel.run_trace), what explain makes of
them (analysis.schedule_explain) and `parexec explain` on the terminal and as a
page. Checked against what the runs must have done, not against their own output."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import parexec
from conftest import MAINNET, require_data
from parexec.access.access_list import AccessListHints
from parexec.analysis.schedule_explain import (
    COMMITTED,
    REDO,
    REPAIRED_LABEL,
    STALE,
    THROWN_AWAY,
    explain,
    explain_target,
)
from parexec.cli import main
from parexec.model import STORAGE
from parexec.parallel import run_trace
from parexec.parallel.worker_pool import get_pool
from parexec.strategies import STRATEGIES

HOT = "erc20:txs=80,hot=1,seed=3"


def traced(what, strategy, workers=2):
    parexec.execute(what, strategy=strategy, workers=workers)  # workers started, untraced
    with run_trace.recording() as trace:
        outcome = parexec.execute(what, strategy=strategy, workers=workers)
    return trace, outcome


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_transaction_has_exactly_one_execution_that_became_the_block(strategy):
    trace, outcome = traced(HOT, strategy)
    n = len(outcome.tx_results)
    assert sorted(c.tx for c in trace.commits) == list(range(n))
    ex = explain(trace, outcome.tx_results, strategy, 2)
    for j in range(n):
        used = [e for e in ex.of_tx(j) if e.label in (COMMITTED, REDO, REPAIRED_LABEL)]
        assert len(used) == 1, (j, [e.label for e in ex.of_tx(j)])
        assert used[0].span.value.writes == outcome.tx_results[j].writes
        assert all(e.span.start <= e.span.end <= ex.origin + ex.duration + 1e-6 for e in ex.of_tx(j))
    if strategy != "serial":  # two processes took part
        assert ex.processes() == [0, 1]


def test_occ_thrown_away_executions_are_its_reexecutions_and_name_the_right_writer():
    trace, outcome = traced(HOT, "occ")
    results = outcome.tx_results
    ex = explain(trace, results, "occ", 2)
    thrown = ex.thrown_away()
    repaired = outcome.stats.redo.repaired  # stale, then repaired by operation-level redo: not executed again
    assert len(thrown) == outcome.stats.reexecutions + repaired > 0  # a hot token: speculation goes stale
    assert len([e for e in ex.executions if e.label == REPAIRED_LABEL]) == repaired
    followed = ex.most_held_back()
    assert followed in {e.tx for e in thrown}
    assert all(len(ex.held_back_by(e.tx)) <= len(ex.held_back_by(followed)) for e in thrown)
    for e in thrown:
        assert e.label == STALE and e.wrong
        for read in e.wrong:
            # independently of the explanation: the value before tx j is the last
            # write of that slot by a transaction below j
            assert read.location[0] == STORAGE
            before = [i for i in range(e.tx) if read.location in results[i].writes]
            assert before and read.writer == before[-1]
            assert results[read.writer].writes[read.location] == read.expected != read.seen


def test_the_chain_that_held_a_transaction_back_follows_real_dependencies():
    trace, outcome = traced("chain:txs=40", "block-stm")
    ex = explain(trace, outcome.tx_results, "block-stm", 2)
    chain = ex.held_back_by(39)
    assert [link.tx for link in chain] == list(range(39, -1, -1))  # each waits on the one before
    for link, below in zip(chain, chain[1:]):
        assert below.tx in ex.graph.preds[link.tx] and link.because
        assert below.committed_at <= link.committed_at
    assert ex.snapshots[39] and all(not r.differs for r in ex.snapshots[39][-1])


def test_independent_transactions_are_never_thrown_away():
    trace, outcome = traced("transfers:txs=60,hot=0", "occ")
    ex = explain(trace, outcome.tx_results, "occ", 2)
    assert not [e for e in ex.executions if e.label in THROWN_AWAY]
    assert ex.held_back_by(10)[1:] == []


def test_untraced_runs_after_a_traced_one_are_not_traced():
    traced("transfers:txs=20", "occ")
    with_trace = run_trace.active()
    parexec.execute("transfers:txs=20", strategy="occ", workers=2)
    assert with_trace is None and get_pool(1).trace is None
    with run_trace.recording():
        with pytest.raises(RuntimeError, match="already"):
            with run_trace.recording():
                pass


def test_explain_command_on_a_hot_token(tmp_path):
    out = tmp_path / "explained"
    result = CliRunner().invoke(main, ["explain", HOT, "--tx", "40", "--strategy", "occ", "--workers", "2",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "occ on 2 workers, 80 transactions" in text and "transaction 40" in text
    assert "stale" in text and "should be" in text and "held back by" in text
    assert (out / "gantt.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "index.html").read_text()
    assert "<img src='gantt.png'" in page and "The chain that held it back" in page


def test_explain_bal_with_its_list(tmp_path):
    """With an EIP-7928 list nothing is stale: every execution saw the list's values,
    and the traced run keeps the reads the workers otherwise leave behind."""
    lists = tmp_path / "lists"
    assert CliRunner().invoke(main, ["access-list", HOT, "--format", "eip7928", "-o", str(lists)]).exit_code == 0
    result = CliRunner().invoke(main, ["explain", HOT, "--strategy", "bal", "--hints", str(lists)])
    assert result.exit_code == 0 and "bal on 2 workers, 80 transactions" in result.output, result.output
    run = parexec.explain(HOT, "bal", 2, hints=AccessListHints(lists))
    ex = run.explanation
    for j in range(ex.txs):
        assert [e.label for e in ex.of_tx(j)].count(COMMITTED) == 1, j
    assert not any(e.label == STALE for e in ex.executions) and ex.processes() == [0, 1]


def test_explain_on_a_mainnet_block_with_a_declared_strategy(tmp_path):
    block = sorted((require_data(MAINNET) / "blocks").iterdir())[0]
    run = explain_target(parexec.targets(block)[0], "dag", 2, 3, predict=True)  # footprints by pre-execution
    ex = run.explanation
    assert {e.span.phase for e in ex.executions} == {run_trace.PRE_EXECUTION, run_trace.EXECUTION}
    assert sorted(set(e.tx for e in ex.executions)) == list(range(ex.txs))
    assert run.serial_seconds > 0 and ex.duration > 0


@pytest.mark.parametrize("args, message", [
    (["transfers:txs=10", "--tx", "10"], "there is no tx 10"),
    (["transfers:txs=10,blocks=2"], "explain takes one"),
    (["nosuch:txs=3"], "unknown workload"),
])
def test_explain_refuses_what_it_cannot_explain(args, message):
    result = CliRunner().invoke(main, ["explain", *args])
    assert result.exit_code == 2 and message in result.output, result.output
