"""What one run of a block did, where and when: the record `parexec explain` reads.

Off unless a trace is being recorded (``recording()``): the engines ask
``active()`` and do nothing more when it is None, so a normal run pays one
check per transaction. When on, every execution becomes a Span (which process,
which transaction, start and end, its outcome) and every commit a Commit (the
result that became the block's, and whether it was the speculative one). Times
are time.monotonic(), one clock for all processes on Linux, so the workers'
spans and the coordinator's share an axis. Why an execution was thrown away is
worked out afterwards (analysis.schedule_explain), not while the block runs.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

EXACT = "exact"  # a span's kind: the coordinator executed the transaction at its turn to commit
REPAIRED = "repaired"  # the coordinator repaired a stale result at its turn to commit (evm.redo)
COORDINATOR = 0  # a span's process: the coordinator; worker slots count from 1

PRE_EXECUTION = "pre-execution"  # a declared-access strategy predicting footprints
EXECUTION = "execution"


@dataclass
class Span:
    process: int  # COORDINATOR, or the worker's slot (1, 2, ...)
    tx: int
    start: float
    end: float
    kind: str  # an outcome kind (parallel.protocol: DONE, BLOCKED, INVALID, ERROR) or EXACT
    value: Any  # the TxResult (DONE, EXACT), the writer waited for (BLOCKED), a reason
    phase: str = EXECUTION


@dataclass
class Commit:
    tx: int
    at: float
    result: Any  # the TxResult that became the block's
    speculative: bool  # a speculative result accepted (True) or an exact execution (False)


@dataclass
class RunTrace:
    start_state: Any = None  # the state the transactions start from (pre-block system writes applied)
    spans: list[Span] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase, when it began)
    started: float = 0.0
    ended: float = 0.0

    @property
    def phase(self) -> str:
        return self.phases[-1][0] if self.phases else EXECUTION

    def begin(self, phase: str, state) -> None:
        """A strategy starts on the block's transactions (``phase``); ``state`` is
        the OverlayState they start from, copied here as it is now."""
        if self.start_state is None:
            self.start_state = state.copy()
        self.phases.append((phase, time.monotonic()))

    def span(self, process: int, tx: int, start: float, end: float, kind: str, value) -> None:
        self.spans.append(Span(process, tx, start, end, kind, value, self.phase))

    def commit(self, tx: int, result, speculative: bool) -> None:
        self.commits.append(Commit(tx, time.monotonic(), result, speculative))


_ACTIVE: RunTrace | None = None


def active() -> RunTrace | None:
    """The trace being recorded, if any."""
    return _ACTIVE


@contextmanager
def recording() -> Iterator[RunTrace]:
    """Record every run of a block inside the ``with`` into the trace it yields."""
    global _ACTIVE
    if _ACTIVE is not None:
        raise RuntimeError("a run trace is already being recorded")
    trace = _ACTIVE = RunTrace(started=time.monotonic())
    try:
        yield trace
    finally:
        trace.ended = time.monotonic()
        _ACTIVE = None
