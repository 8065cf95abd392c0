"""`parexec replay`: many blocks verified and timed, in this process or as tasks
on a real local Ray runtime (2 CPUs here); the same verdicts as `verify`; a Ray
worker killed mid-replay loses no block; a task lost on every try ends as a failed row."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import MAINNET, require_data
from parexec.cli import main
from parexec.cluster import replay
from parexec.cluster.replay import replay_on_ray
from parexec.fixtures.discover import find_cases

# one local Ray at a time (pytest 9.2 broke the grouping, hence the pin below 9.2; the
# killing test kills only its own Ray's tasks all the same)
pytestmark = pytest.mark.xdist_group("ray")


def test_replay_on_a_local_ray_passes_every_mainnet_block_as_verify_does(tmp_path):
    require_data(MAINNET)
    verified = CliRunner().invoke(main, ["verify", str(MAINNET)])
    assert verified.exit_code == 0
    report = tmp_path / "replay.json"
    result = CliRunner().invoke(main, ["replay", str(MAINNET), "--strategies", "occ", "--workers", "2",
                                       "--json", str(report), "--ray"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == verified.output.splitlines()[-1]  # "45 passed, 0 failed"
    data = json.loads(report.read_text())
    assert data["where"] == "a local Ray" and data["blocks_per_second"] > 0
    assert [row["case"] for row in data["rows"]] == [case.name for case in find_cases([MAINNET])]
    assert all(row["status"] == "passed" and row["speedup"]["occ"] > 0 for row in data["rows"])


def test_replay_here_gives_the_rows_ray_gives(tmp_path):
    """With bal and EIP-7928 lists for two of the three blocks (each task reads
    them at their path): the same rows, and both say how bal ran the blocks."""
    require_data(MAINNET)
    blocks = [str(MAINNET / "blocks" / n) for n in ("4370000", "1150000", "19426587")]
    lists = tmp_path / "lists"
    made = CliRunner().invoke(main, ["access-list", blocks[0], blocks[2], "--format", "eip7928", "-o", str(lists)])
    assert made.exit_code == 0, made.output
    rows = {}
    for where in ([], ["--ray"]):
        report = tmp_path / f"replay{len(where)}.json"
        result = CliRunner().invoke(main, ["replay", *blocks, "--strategies", "occ,bal", "--hints", str(lists),
                                           "--json", str(report), *where])
        assert result.exit_code == 0, result.output
        assert "bal ran 3 blocks: 2 with an EIP-7928 list, 1 without a list, run with occ" in result.output
        rows[len(where)] = [(r["case"], r["status"], r["txs"], r["gas"], r["ran"])
                            for r in json.loads(report.read_text())["rows"]]
    assert rows[0] == rows[1] and len(rows[0]) == 3


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _ray_task_processes() -> list[int]:
    """Ray workers executing replay_case for this process's own local Ray (their
    raylet is our child; another test process may run a Ray of its own), not
    the parexec pool processes they forked, which inherit the title."""
    titled = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = _parent(int(pid))
            ours = _parent(parent) == os.getpid()
        except (OSError, ValueError, IndexError):
            continue
        if cmdline.startswith(b"ray::replay_case") and ours:
            titled[int(pid)] = parent
    return list(titled)


def test_a_ray_worker_killed_mid_replay_loses_no_block():
    require_data(MAINNET)
    big = ["14396881", "15274915", "13217637", "14029313", "12300570", "15538827"]
    cases = find_cases([MAINNET / "blocks" / n for n in big])
    killed: list[int] = []

    def kill_one_running_task():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for pid in _ray_task_processes():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_running_task, daemon=True)
    killer.start()
    result = replay_on_ray(cases, ["occ"], 2)
    killer.join()
    assert killed, "no Ray task process was seen running"
    assert [row.case for row in result.rows] == [case.name for case in cases]
    assert all(row.status == "passed" for row in result.rows), [(r.case, r.detail) for r in result.rows]
    assert str(killed[0]) not in {row.host.split(":")[1] for row in result.rows}  # re-run elsewhere


def test_a_ray_task_lost_on_every_try_ends_as_a_failed_row(monkeypatch):
    """A task whose process dies on every try (Ray's retries, then the case's
    second attempt) is lost for good: its case ends as a failed row saying so,
    and the other case still passes."""
    require_data(MAINNET)
    good, doomed = find_cases([MAINNET / "blocks" / n for n in ("4370000", "1150000")])

    class Doomed:  # defined here, so Ray ships it by value
        name = doomed.name

        def run(self, strategy, workers):
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(replay, "TASK_RETRIES", 1)  # two tries per task, to keep it short
    result = replay_on_ray([good, Doomed()], ["occ"], 2)
    assert [(row.case, row.status) for row in result.rows] == [(good.name, "passed"), (doomed.name, "failed")]
    lost = result.rows[1]
    assert lost.attempts == replay.CASE_ATTEMPTS
    assert lost.detail.startswith("task failed after 1 retries: ") and "\n" not in lost.detail, lost.detail


def test_replay_refuses_what_it_cannot_read():
    result = CliRunner().invoke(main, ["replay", "/nonexistent/blocks"])
    assert result.exit_code == 2 and "no such file" in result.output
