"""Peak memory of the coordinator and its worker processes, per run (Linux).

A process's peak resident set (VmHWM in /proc/PID/status) is reset to its
current size by writing 5 to /proc/PID/clear_refs (Linux 4.0 and later), so a
peak read after a run is that run's: the block's state, results and
speculation on top of what the process already held. Where the reset is not
allowed the peak is the process's whole life's; where /proc is missing there
is no figure (None). A worker forked from the coordinator counts the pages it
still shares with it, as RSS does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass
class PeakMemory:
    """Bytes: the coordinator's peak, and each worker process's (by pool slot)."""

    coordinator: int | None = None
    workers: list[int | None] = field(default_factory=list)

    def merge(self, other: PeakMemory) -> PeakMemory:
        """The larger of each process's peaks (over the runs of one strategy)."""
        n = max(len(self.workers), len(other.workers))
        pad = [None] * n
        workers = [_max(a, b) for a, b in zip((self.workers + pad)[:n], (other.workers + pad)[:n])]
        return PeakMemory(_max(self.coordinator, other.coordinator), workers)

    def to_json(self) -> dict:
        return {"coordinator": self.coordinator, "workers": list(self.workers)}

    def text(self) -> str:
        """MiB, coordinator first, then the workers: "412 / 380, 377"."""
        coordinator = _mib(self.coordinator)
        return coordinator if not self.workers else f"{coordinator} / {', '.join(map(_mib, self.workers))}"


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f}"


def worker_pids() -> list[int]:
    """The pids of the process-wide worker pool's processes, in slot order (none
    if no pool was started)."""
    from parexec.parallel import worker_pool

    pool = worker_pool._POOL
    return [] if pool is None else [w.process.pid for w in pool.workers]


def reset_peak(pid: int) -> None:
    """Make ``pid``'s peak its current resident size, where Linux allows it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss(pid: int) -> int | None:
    """``pid``'s peak resident set size in bytes (None: not readable)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peaks(workers: bool) -> None:
    """Reset this process's peak, and the pool's processes' with ``workers``."""
    for pid in [os.getpid(), *(worker_pids() if workers else [])]:
        reset_peak(pid)


def read_peaks(workers: bool) -> PeakMemory:
    """This process's peak, and the pool's processes' with ``workers``."""
    return PeakMemory(peak_rss(os.getpid()), [peak_rss(pid) for pid in worker_pids()] if workers else [])
