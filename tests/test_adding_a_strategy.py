"""docs/adding-a-strategy.md, followed as written: its example strategy, taken
from the page, registered, run, listed, benchmarked and simulated; and a
strategy without a model, which `simulate` refuses by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from parexec.analysis.block_profile import profile_block
from parexec.analysis.simulator import Overheads, simulate, simulated_strategies
from parexec.block.pipeline import execute_block
from parexec.cli import main
from parexec.fixtures.targets import load_targets
from parexec.strategies import STRATEGIES, get_strategy
from parexec.strategies.base import ParallelStrategy

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "adding-a-strategy.md"


def example_strategy():
    """The Python block of the guide, executed: the class it defines."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 1, "the guide should show one example strategy"
    namespace: dict = {}
    exec(compile(blocks[0], str(GUIDE), "exec"), namespace)
    classes = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, ParallelStrategy)
               and v is not ParallelStrategy]
    assert len(classes) == 1
    return classes[0]


@pytest.fixture
def registered(monkeypatch):
    cls = example_strategy()
    monkeypatch.setitem(STRATEGIES, cls.name, cls)
    return cls


def test_the_guides_strategy_equals_serial_and_is_simulated(registered):
    name = registered.name
    target, = load_targets(["erc20:txs=40,hot=0.3"])
    serial = execute_block(target.block, target.pre_state, get_strategy("serial"), 1)
    outcome = execute_block(target.block, target.pre_state, get_strategy(name), 2)
    assert outcome.stats.mode == "parallel"
    assert serial.first_difference(outcome) is None
    assert name in simulated_strategies()
    profile = profile_block(target, 1)
    assert 1.0 < simulate(profile, name, 4, Overheads()) <= 4.0 + 1e-9


def test_the_guides_strategy_is_listed_run_and_benchmarked(registered, tmp_path):
    runner = CliRunner()
    listed = runner.invoke(main, ["strategies"])
    assert listed.exit_code == 0 and registered.name in listed.output and "mv-run" in listed.output
    bench = runner.invoke(main, ["bench", "transfers:txs=30", "--strategies", registered.name,
                                 "--workers", "2", "--repeat", "1"])
    assert bench.exit_code == 0, bench.output
    assert registered.name in bench.output


def test_a_strategy_without_a_model_is_refused_by_simulate(monkeypatch):
    class Unmodelled(ParallelStrategy):
        """An engine the simulator does not know."""

        name = "unmodelled"
        engine = "quantum"

    monkeypatch.setitem(STRATEGIES, Unmodelled.name, Unmodelled)
    profile_target, = load_targets(["transfers:txs=10"])
    with pytest.raises(ValueError, match="cannot simulate 'unmodelled': its engine 'quantum' has no model"):
        simulate(profile_block(profile_target, 1), "unmodelled", 2, Overheads())
    result = CliRunner().invoke(main, ["simulate", "transfers:txs=10", "--strategies", "occ,unmodelled"])
    assert result.exit_code == 2
    assert "cannot simulate 'unmodelled'" in result.output
    assert "unmodelled" not in simulated_strategies()
