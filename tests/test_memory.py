"""Memory pressure on a 10,000-transaction block: it completes exactly, or fails
cleanly with a message; `parexec bench` reports each process's peak memory.

* A worker limited to a few MiB more than it holds runs out of memory on its
  first chunk: it ends, is replaced, and the block equals serial's.
* `parexec bench` under a limit on its address space (RLIMIT_AS, inherited by
  the workers): with room (400 MiB) it completes, every outcome equal to serial's
  (bench fails otherwise), and reports the peak resident memory of the
  coordinator and of its worker; with too little (200 MiB) it exits non-zero
  with one line, never a traceback or a hang.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from parexec.block.pipeline import execute_block
from parexec.fixtures.targets import load_targets
from parexec.parallel.worker_pool import get_pool
from parexec.peak_memory import PeakMemory, peak_rss, read_peaks, reset_peaks
from parexec.strategies import get_strategy
from test_worker_pool import fresh_pool, time_limit  # noqa: F401 (a fixture)

SPEC = "transfers:txs=10000"
PAREXEC = str(Path(sys.executable).with_name("parexec"))
MiB = 2**20


def _vm_size(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def test_a_worker_out_of_memory_on_10000_transactions_is_replaced(fresh_pool):
    """The worker comes from the forkserver (as for a store-backed state), so what it
    holds, and the little room left, does not depend on the tests run before."""
    target = load_targets([SPEC])[0]
    reference = execute_block(target.block, target.pre_state, get_strategy("serial"), 1)
    target.pre_state.start_method = "forkserver"  # the pool starts its workers so for this state
    pool = get_pool(1, "forkserver")
    pool.wait_ready()
    pid = pool.workers[0].process.pid
    limit = _vm_size(pid) + 5 * MiB  # the pre-state alone, let alone a chunk of thousands, needs more
    resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
    before = pool.replaced
    try:
        with time_limit(120):
            outcome = execute_block(target.block, target.pre_state, get_strategy("occ"), 2)
    finally:
        get_pool(0, "fork")
    assert pool.replaced - before == 1 and pid not in [w.process.pid for w in pool.workers]
    assert outcome.stats.mode == "parallel"
    assert reference.first_difference(outcome) is None


def _bench_under(limit: int, json_path: Path) -> subprocess.CompletedProcess:
    """`parexec bench` of serial and occ on 2 processes, its address space (and its
    workers') limited to ``limit`` bytes."""

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [PAREXEC, "bench", SPEC, "--strategies", "occ", "--workers", "2", "--repeat", "1", "--json", str(json_path)],
        preexec_fn=limited, capture_output=True, text=True, timeout=240,
    )


def test_bench_of_10000_transactions_within_400_mib_reports_peak_memory(tmp_path):
    report = tmp_path / "bench.json"
    done = _bench_under(400 * MiB, report)
    assert done.returncode == 0, done.stderr  # every outcome equal to serial's
    assert "peak MiB" in done.stdout
    rows = {r["strategy"]: r for r in json.loads(report.read_text())["rows"]}
    assert rows["serial"]["txs"] == 10_000 and rows["serial"]["peak_rss"]["workers"] == []
    occ = rows["occ"]["peak_rss"]
    assert len(occ["workers"]) == 1
    for peak in [rows["serial"]["peak_rss"]["coordinator"], occ["coordinator"], *occ["workers"]]:
        assert 20 * MiB < peak < 400 * MiB


def test_bench_of_10000_transactions_within_200_mib_fails_cleanly(tmp_path):
    done = _bench_under(200 * MiB, tmp_path / "bench.json")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(("error: out of memory", "parexec: internal error")), done.stderr


def test_peaks_are_per_run_and_per_process(fresh_pool):
    """A reset makes the peak the current size; a run that allocates raises it."""
    pool = get_pool(1)
    pool.wait_ready()
    reset_peaks(workers=True)
    quiet = read_peaks(workers=True)
    assert len(quiet.workers) == 1 and quiet.workers[0] == peak_rss(pool.workers[0].process.pid)
    ballast = bytearray(64 * MiB)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touched: resident
    busy = read_peaks(workers=True)
    assert busy.coordinator - quiet.coordinator > 60 * MiB
    del ballast
    merged = quiet.merge(busy)
    assert merged.coordinator == busy.coordinator and len(merged.workers) == 1
    assert PeakMemory(3 * MiB, [2 * MiB, None]).text() == "3 / 2, -"


def test_a_reset_lowers_the_peak():
    ballast = bytearray(64 * MiB)
    ballast[::4096] = b"x" * len(ballast[::4096])
    del ballast
    high = peak_rss(os.getpid())
    reset_peaks(workers=False)
    assert peak_rss(os.getpid()) < high - 32 * MiB
