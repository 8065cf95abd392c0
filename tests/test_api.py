"""The Python API (parexec.api): the README's example runs as written, and the
one-line calls give what the commands give."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import parexec
from conftest import MAINNET, require_data

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_runs(capsys):
    text = README.read_text()
    match = re.search(r"<!-- python-api-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its Python example"
    exec(compile(match.group(1), "README example", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert "gas" in printed[0] and printed[1].startswith("dependencies")
    assert [line.split()[0] for line in printed[2:]] == ["serial", "occ", "block-stm"]


def test_execute_a_block_dump_as_the_command_line_does():
    block = sorted((require_data(MAINNET) / "blocks").iterdir())[0]
    serial = parexec.execute(block)
    parallel = parexec.execute(str(block), strategy="block-stm", workers=2)
    assert serial.first_difference(parallel) is None and serial.gas_used > 0
    assert len(parexec.targets(MAINNET)) > 1
    with pytest.raises(ValueError, match="blocks; pass one"):
        parexec.execute(MAINNET)


def test_unknown_names_say_what_exists():
    with pytest.raises(ValueError, match="unknown strategy"):
        parexec.execute("transfers:txs=10", strategy="nope")
    with pytest.raises(AttributeError):
        parexec.no_such_thing


def test_bal_and_dag_from_python_with_the_blocks_exact_lists(tmp_path):
    """``parexec.access_list`` gives a block's exact lists; ``hints`` takes them, or a
    path as ``--hints`` does; a list of another block is held to this one."""
    from parexec.model import BlockRejected

    spec = "erc20:txs=40,hot=1"
    serial = parexec.execute(spec)
    exact = parexec.access_list(spec)
    bal = parexec.execute(spec, strategy="bal", workers=2, hints=exact)
    assert bal.stats.hints == "eip7928 list" and serial.first_difference(bal) is None
    assert parexec.execute(spec, strategy="bal", workers=2).stats.hints == "none: occ"
    dag = parexec.execute(spec, strategy="dag", workers=2, hints=parexec.access_list(spec, format="parexec"))
    assert dag.stats.hints == "access list" and serial.first_difference(dag) is None
    (tmp_path / "mine.rlp").write_bytes(exact.encode())
    rows = parexec.bench(spec, ["serial", "bal"], workers=2, repeat=1, hints=tmp_path / "mine.rlp")
    assert [row["hints"] for row in rows if row["strategy"] == "bal"] == ["eip7928 list"]
    with pytest.raises(BlockRejected, match="invalid access list"):
        parexec.execute(spec, strategy="bal", workers=2, hints=parexec.access_list("erc20:txs=41,hot=1"))
    with pytest.raises(ValueError, match="unknown format"):
        parexec.access_list(spec, format="json")
