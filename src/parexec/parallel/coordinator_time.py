"""Where bal's coordinator spends a block, by activity, timed in the engine.

The simulator charges bal's coordinator a cost per result it takes in from a
worker (Overheads.commit: receiving and decoding it, handing out work, the
engine's bookkeeping), one per message it writes to a worker (Overheads.message,
calibrated as a send, timed apart: a chunk of work or a claim, whose number per
result grows with the workers, as chunks shrink) and one per transaction once
every result is in (Overheads.settle). The calibration times both here, in the very runs whose
speedups it measures: what is left of the coordinator's time once its own
executions, its preparation, its waiting and its finishing are taken out is
the cost of taking results in. Fitted to speedups at two workers instead, the
per-result cost moved between 0 and 25 us from one calibration to the next
(at two workers it barely moves the speedup; at 32 it sets the limit).

Off unless recorded (``recording()``), as run_trace: the engine asks
``active()`` once a block and, when it is None, times nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass
class CoordinatorTime:
    """One block's run on the coordinator, in seconds by activity."""

    txs: int = 0
    worker_results: int = 0  # results taken in from the workers
    messages: int = 0  # written to the workers while the transactions ran (chunks, claims; a block with its first)
    total: float = 0.0  # from opening the block to its settled state
    start: float = 0.0  # opening the block on the worker pool
    prepare: float = 0.0  # indexing the list's accounts, entering it whole and staging the post-state
    own: float = 0.0  # executing its own transactions and holding them to the list
    commit: float = 0.0  # committing the results in block order (while the workers run, and the rest after)
    wait: float = 0.0  # blocked until a worker's results came
    finish: float = 0.0  # once every result is in and committed: the list's last checks, settling

    @property
    def taking_in(self) -> float:
        """The rest: taking the workers' results in, handing work out, bookkeeping."""
        return self.total - self.start - self.prepare - self.own - self.commit - self.wait - self.finish


_RUNS: list[CoordinatorTime] | None = None


def active() -> CoordinatorTime | None:
    """A new record for the block about to run, if runs are being recorded."""
    if _RUNS is None:
        return None
    record = CoordinatorTime()
    _RUNS.append(record)
    return record


@contextmanager
def recording() -> Iterator[list[CoordinatorTime]]:
    """Record every bal run inside the ``with`` into the list it yields."""
    global _RUNS
    if _RUNS is not None:
        raise RuntimeError("the coordinator's time is already being recorded")
    runs = _RUNS = []
    try:
        yield runs
    finally:
        _RUNS = None
