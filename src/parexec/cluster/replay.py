"""`parexec replay`: verify and time many blocks, here or as Ray tasks on a cluster.

Each case (a block dump, an ethereum/tests test, a workload) is one unit of work:
verified with serial execution against what the chain says, then with each
strategy (against the chain and against serial), each run timed. Here, the
units run one after another in this process. With Ray, each is a task
(``replay_case``) that runs parexec's own worker pool on whichever node takes
it; a task reserves as many CPUs as the pool has processes. Ray re-runs a task
whose worker died (``max_retries``); a case that fails is run once more, to
tell a broken node from a broken block, and reported with what it said. No
case is lost: each ends as a row, passed or failed, whatever happened to its task.

On a real cluster every node needs parexec installed in the same environment
and the data at the same path (the tasks carry paths, not blocks), access lists
(``hints``) included.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from parexec.fixtures.case import FAILED, PASSED, SKIPPED, CaseResult

TASK_RETRIES = 3  # re-runs of a task whose worker died (Ray's max_retries)
CASE_ATTEMPTS = 2  # runs of a case that fails


@dataclass
class ReplayRow:
    case: str
    status: str  # passed, failed or skipped
    detail: str = ""
    txs: int = 0
    gas: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # strategy -> wall time of its run
    speedup: dict[str, float] = field(default_factory=dict)  # strategy -> serial's time over its time
    attempts: int = 1
    host: str = ""  # where it ran: host name and process id
    # a strategy that takes access lists -> how it ran the case's blocks (strategies.hint_tally) -> how many
    ran: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def replay_case(case, strategies: list[str], workers: int, hints: str | None = None) -> ReplayRow:
    """Verify ``case`` serially, then with each strategy on ``workers`` processes;
    the first failure ends it. ``hints``: the path of access lists for the
    strategies that take them."""
    from parexec.access.access_list import AccessListHints
    from parexec.parallel.worker_pool import get_pool
    from parexec.strategies import TAKES_HINTS, get_strategy
    from parexec.strategies.hint_tally import HintTally, tallied

    if workers > 1 and strategies:
        get_pool(workers - 1).wait_ready()  # started before the clock, as bench does
    row = ReplayRow(case.name, PASSED, host=f"{socket.gethostname()}:{os.getpid()}")
    lists = AccessListHints(hints) if hints is not None and set(strategies) & set(TAKES_HINTS) else None
    for name in ["serial", *strategies]:
        strategy = tallied(get_strategy(name, hints=lists))
        result = _run(case, strategy, 1 if name == "serial" else workers)
        if isinstance(strategy, HintTally):
            row.ran[name] = dict(strategy.counts)
        row.txs, row.gas = result.txs, result.gas
        if result.status != PASSED:
            row.status, row.detail = result.status, (result.detail if name == "serial" else f"{name}: {result.detail}")
            return row
        row.seconds[name] = result.seconds
    serial = row.seconds["serial"]
    row.speedup = {s: serial / t for s, t in row.seconds.items() if s != "serial" and t > 0}
    return row


def _run(case, strategy, workers: int) -> CaseResult:
    try:
        return case.run(strategy, workers)
    except Exception as exc:  # a bug in parexec must not hide the other cases
        return CaseResult(case.name, FAILED, f"internal error: {type(exc).__name__}: {exc}")


@dataclass
class Replay:
    rows: list[ReplayRow]
    seconds: float  # wall time of the whole replay
    where: str  # "this process" or the Ray cluster's address

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def blocks_per_second(self) -> float:
        return len(self.rows) / self.seconds if self.seconds else 0.0

    def ran_lines(self) -> list[str]:
        """How each strategy that takes access lists ran the blocks, over all rows."""
        from collections import Counter

        from parexec.strategies.hint_tally import ran_line

        totals: dict[str, Counter] = {}
        for row in self.rows:
            for name, counts in row.ran.items():
                totals.setdefault(name, Counter()).update(counts)
        return [ran_line(name, counts) for name, counts in totals.items()]

    def summary(self) -> str:
        line = f"{self.count(PASSED)} passed, {self.count(FAILED)} failed"
        skipped = self.count(SKIPPED)
        return line + (f", {skipped} skipped" if skipped else "")


def replay_here(cases: list, strategies: list[str], workers: int,
                on_row: Callable[[ReplayRow], None] = lambda _row: None, hints: str | None = None) -> Replay:
    started = time.perf_counter()
    rows = []
    for case in cases:
        row = replay_case(case, strategies, workers, hints)
        rows.append(row)
        on_row(row)
    return Replay(rows, time.perf_counter() - started, "this machine, one process")


def replay_on_ray(cases: list, strategies: list[str], workers: int, address: str | None = None,
                  on_row: Callable[[ReplayRow], None] = lambda _row: None, hints: str | None = None) -> Replay:
    """Each case a Ray task (on the cluster at ``address``, or on a Ray started
    here for this replay); rows in the cases' order."""
    import ray

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 **({} if address else {"num_cpus": os.cpu_count()}))
    try:
        where = address or "a local Ray"
        cpus = max(1, min(workers, int(ray.cluster_resources().get("CPU", 1))))
        task = ray.remote(num_cpus=cpus, max_retries=TASK_RETRIES)(replay_case)
        started = time.perf_counter()
        rows: dict[int, ReplayRow] = {}
        attempts = {i: 1 for i in range(len(cases))}
        pending = {task.remote(case, strategies, workers, hints): i for i, case in enumerate(cases)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            row = _outcome(done[0], cases[i].name)
            if row.status == FAILED and attempts[i] < CASE_ATTEMPTS:
                attempts[i] += 1  # once more, maybe elsewhere: a broken node, or a broken block?
                pending[task.remote(cases[i], strategies, workers, hints)] = i
                continue
            row.attempts = attempts[i]
            rows[i] = row
            on_row(row)
        return Replay([rows[i] for i in range(len(cases))], time.perf_counter() - started, where)
    finally:
        if started_ray:
            ray.shutdown()


def _outcome(ref, name: str) -> ReplayRow:
    """The task's row, or a failed row saying how the task ended."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ReplayRow(name, FAILED, f"task failed after {TASK_RETRIES} retries: {type(exc).__name__}: {first}")
