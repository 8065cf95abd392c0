"""The demo's report, as a reader sees it: `parexec demo --quick` writes
report/index.html, and Debian's headless Chromium (installed by `make test`'s
set-up) loads it: every image loads and every table has rows."""

from __future__ import annotations

import re
import shutil
import subprocess

from click.testing import CliRunner

from conftest import DATA, require_data
from parexec.cli import main


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is missing: `make test` installs it (make browser)"
    return path


def test_the_report_loads_in_chromium_with_every_image_and_table(tmp_path):
    require_data(DATA / "mainnet")
    report = tmp_path / "report"
    result = CliRunner().invoke(main, ["demo", "--quick", "--data", str(DATA), "-o", str(report)])
    assert result.exit_code == 0, result.output
    assert "mainnet blocks (geometric mean)" in result.output and "chain import" in result.output
    page = report / "index.html"
    assert re.search(r"occ repaired \d+ of its \d+ stale results", page.read_text())  # operation-level redo
    for name in ("contention.png", "mainnet.png", "simulated.png", "schedule-1.png", "schedule-2.png"):
        assert (report / name).read_bytes()[:4] == b"\x89PNG"
    done = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    check = re.search(r'data-check="images (\d+)/(\d+) tables (\d+)/(\d+)"', done.stdout)
    assert check, done.stdout[-2000:] + done.stderr[-2000:]
    loaded, images, filled, tables = map(int, check.groups())
    assert images == 5 and loaded == images, check.group(0)
    assert tables >= 6 and filled == tables, check.group(0)
