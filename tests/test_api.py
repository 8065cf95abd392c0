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
