"""Why a parallel run took the shape it did, from its trace (parallel.run_trace).

Every execution of the run is labelled: its result became the block's
(``committed``, or ``redo`` when an earlier execution of the same transaction
was thrown away; a declared-access strategy's pre-execution does not count), or it was thrown away, because a value it read was not the one
it should have seen (``stale``), because it met a value being redone and
stopped to wait for its writer (``blocked``), because it failed on speculative
state (``failed``), or although everything it read held (``unused``: aborted on
an intermediate value, cut short, or a pre-execution whose transaction waits for
what it declared).

What a transaction should have seen is the state serial execution gives it: the
block's starting state with every committed result before it applied. So the
reasons are exact for the run that happened: each stale execution names the
locations it read wrongly, the value it saw, the value it should have seen and
the transaction that wrote that value. For one transaction, the chain that held
it back follows, from it, the dependency that was committed last (the read
whose writer came latest), and so on down to a transaction that depends on
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parexec.access.footprint import Footprint
from parexec.analysis.dependency_graph import DependencyGraph
from parexec.model import (
    BALANCE,
    BALANCE_DELTA,
    BALANCE_FLOOR,
    CODE,
    EXISTS,
    HAS_STORAGE,
    NONCE,
    STORAGE,
    STORAGE_RESET,
    show,
)
from parexec.parallel.protocol import BLOCKED, DONE
from parexec.parallel.run_trace import EXACT, PRE_EXECUTION, REPAIRED, RunTrace, Span
from parexec.state.overlay import OverlayState
from parexec.state.view import read_value

COMMITTED = "committed"
REDO = "redo"
REPAIRED_LABEL = "repaired"  # a stale result repaired by operation-level redo, committed
STALE = "stale"
BLOCKED_LABEL = "blocked"
UNUSED = "unused"
FAILED = "failed"
LABELS = (COMMITTED, REDO, REPAIRED_LABEL, STALE, BLOCKED_LABEL, UNUSED, FAILED)
THROWN_AWAY = (STALE, BLOCKED_LABEL, UNUSED, FAILED)


@dataclass(frozen=True)
class Read:
    """One value an execution read, against the one it should have seen."""

    location: tuple
    seen: Any
    expected: Any
    writer: int | None  # the transaction that wrote ``expected`` (None: the block's starting state)

    @property
    def differs(self) -> bool:
        return self.seen != self.expected


@dataclass
class Execution:
    span: Span
    label: str
    wrong: list[Read] = field(default_factory=list)  # the reads that differ (stale executions)

    @property
    def tx(self) -> int:
        return self.span.tx

    def reason(self) -> str:
        """Why it was thrown away (or how it got in), in a line."""
        span = self.span
        if self.label == STALE:
            first = self.wrong[0]
            more = f" (and {len(self.wrong) - 1} more)" if len(self.wrong) > 1 else ""
            where = "on the starting state (pre-execution): " if span.phase == PRE_EXECUTION else ""
            return (f"{where}read {location_text(first.location)} = {show(first.seen)}, should be "
                    f"{show(first.expected)} ({writer_text(first.writer)}){more}")
        if self.label == BLOCKED_LABEL:
            return f"met a value tx {span.value} is redoing: waits for it"
        if self.label == FAILED:
            return f"failed on speculative state: {str(span.value).strip().splitlines()[-1]}"
        if self.label == UNUSED and span.phase == PRE_EXECUTION:
            return "a prediction on the starting state, kept only as a footprint: it waits for what it declared"
        if self.label == UNUSED:
            return "thrown away though its reads held (aborted on an intermediate value, or cut short)"
        if self.label == REPAIRED_LABEL:
            return "its stale result repaired at its turn (only the operations that depend on what changed); committed"
        how = "at its turn, by the coordinator" if span.kind == EXACT else "speculatively"
        return f"{'redone' if self.label == REDO else 'executed'} {how}; committed"


@dataclass
class Link:
    """One step of the chain that held a transaction back."""

    tx: int
    committed_at: float  # seconds from the start of the run
    because: list  # the locations by which the previous step depends on this one


@dataclass
class Explanation:
    strategy: str
    workers: int
    txs: int
    origin: float  # when the run began (time.monotonic): times below are relative to it
    duration: float  # seconds, from the start to the last commit
    executions: list[Execution]  # by start time
    committed_at: list[float]  # per transaction, seconds from the start
    graph: DependencyGraph
    snapshots: dict[int, list[list[Read]]]  # tx -> for each of its executions (by start) every read

    def of_tx(self, j: int) -> list[Execution]:
        return [e for e in self.executions if e.tx == j]

    def thrown_away(self) -> list[Execution]:
        return [e for e in self.executions if e.label in THROWN_AWAY]

    def processes(self) -> list[int]:
        return sorted({e.span.process for e in self.executions})

    def busy(self, process: int) -> float:
        """Seconds ``process`` spent executing transactions."""
        return sum(e.span.end - e.span.start for e in self.executions if e.span.process == process)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(LABELS, 0)
        for e in self.executions:
            counts[e.label] += 1
        return counts

    def most_held_back(self) -> int | None:
        """Of the transactions with an execution thrown away, the one with the
        longest chain holding it back (the latest, on a tie): the one to follow."""
        candidates = {e.tx for e in self.thrown_away()}
        return max(candidates, key=lambda j: (len(self.held_back_by(j)), j), default=None)

    def held_back_by(self, j: int) -> list[Link]:
        """From ``j``, each time the dependency committed last, down to a
        transaction that depends on nothing (``j`` itself first)."""
        chain = [Link(j, self.committed_at[j], [])]
        while self.graph.preds[chain[-1].tx]:
            k = chain[-1].tx
            i = max(self.graph.preds[k], key=lambda p: (self.committed_at[p], p))
            chain[-1].because = sorted(self.graph.causes[(i, k)], key=repr)
            chain.append(Link(i, self.committed_at[i], []))
        return chain


def explain(trace: RunTrace, results: list, strategy: str, workers: int) -> Explanation:
    """Label every execution of ``trace``, a run whose committed ``results`` (one
    TxResult per transaction, in order) are the block's, and keep what each read
    against what it should have seen."""
    n = len(results)
    origin = trace.phases[0][1] if trace.phases else min((s.start for s in trace.spans), default=trace.started)
    committed = {c.tx: c for c in trace.commits}
    by_tx: dict[int, list[Span]] = {}
    for span in sorted(trace.spans, key=lambda s: s.start):
        by_tx.setdefault(span.tx, []).append(span)
    state = OverlayState(trace.start_state)
    writers = _Writers()
    executions, snapshots = [], {}
    for j in range(n):
        thrown = False
        for span in by_tx.get(j, []):
            reads = _reads(span, state, writers)
            if span.kind == REPAIRED and span.value is committed[j].result:
                label = REPAIRED_LABEL
            elif span.kind in (DONE, EXACT) and span.value is committed[j].result:
                label = REDO if thrown else COMMITTED
            else:
                label = _thrown_away_label(span, reads)
                thrown = thrown or span.phase != PRE_EXECUTION  # a prediction is no first attempt
            executions.append(Execution(span, label, [r for r in reads if r.differs] if label == STALE else []))
            snapshots.setdefault(j, []).append(reads)
        result = results[j]
        state.apply(result.writes, result.new_code)
        writers.wrote(j, result.writes)
    executions.sort(key=lambda e: (e.span.start, e.span.process))
    last_commit = max((c.at for c in trace.commits), default=origin)
    graph = DependencyGraph.of([Footprint.of_result(r) for r in results], "slot")
    return Explanation(
        strategy=strategy, workers=workers, txs=n, origin=origin, duration=last_commit - origin,
        executions=executions, committed_at=[committed[j].at - origin for j in range(n)],
        graph=graph, snapshots=snapshots,
    )


def _reads(span: Span, state, writers: "_Writers") -> list[Read]:
    if span.kind not in (DONE, EXACT):
        return []
    return [Read(loc, seen, read_value(state, loc), writers.of(loc)) for loc, seen in span.value.reads.items()]


def _thrown_away_label(span: Span, reads: list[Read]) -> str:
    if span.kind == BLOCKED:
        return BLOCKED_LABEL
    if span.kind not in (DONE, EXACT):
        return FAILED
    return STALE if any(r.differs for r in reads) else UNUSED


class _Writers:
    """Which committed transaction last wrote what a read sees."""

    def __init__(self):
        self.last: dict = {}  # write location -> tx
        self.storage: dict = {}  # address -> the last tx that wrote one of its slots

    def wrote(self, j: int, writes) -> None:
        for loc in writes:
            self.last[loc] = j
            if loc[0] in (STORAGE, STORAGE_RESET):
                self.storage[loc[1]] = j

    def of(self, loc) -> int | None:
        kind, address = loc[0], loc[1]
        account = [(EXISTS, address), (STORAGE_RESET, address)] if kind != STORAGE else []
        candidates = {
            STORAGE: [loc, (STORAGE_RESET, address)],
            BALANCE: [(BALANCE, address), (BALANCE_DELTA, address)],
            BALANCE_FLOOR: [(BALANCE, address), (BALANCE_DELTA, address)],
        }.get(kind, [(kind, address)])
        found = [self.last[c] for c in candidates + account if c in self.last]
        if kind == HAS_STORAGE and address in self.storage:
            found.append(self.storage[address])
        return max(found, default=None)


_FIELD_NAMES = {BALANCE: "balance", BALANCE_FLOOR: "balance", NONCE: "nonce", CODE: "code",
                EXISTS: "existence", HAS_STORAGE: "has storage", STORAGE_RESET: "storage"}


def short_address(address: bytes) -> str:
    text = address.hex()
    return f"0x{text[:4]}…{text[-4:]}"


def location_text(loc) -> str:
    """A location as a person reads it: ``storage 0x1234…abcd[0x5]``, ``balance of 0x…``."""
    if isinstance(loc, bytes):  # an account (account granularity)
        return f"account {short_address(loc)}"
    kind, address = loc[0], loc[1]
    if kind == STORAGE:
        slot = hex(loc[2])
        return f"storage {short_address(address)}[{slot if len(slot) <= 12 else slot[:8] + '…' + slot[-4:]}]"
    if kind == BALANCE_FLOOR:
        return f"balance of {short_address(address)} >= {show(loc[2])}"
    return f"{_FIELD_NAMES.get(kind, kind)} of {short_address(address)}"


def writer_text(writer: int | None) -> str:
    return "the block's starting state" if writer is None else f"written by tx {writer}"


class ResultsDiffer(Exception):
    """The traced run's outcome differs from serial execution's."""


@dataclass
class ExplainedRun:
    target: str
    explanation: Explanation
    serial_seconds: float  # the serial reference run, measured as the explained one (start to last commit)
    focus: int | None


def explain_target(target, strategy: str, workers: int, focus: int | None = None, **options) -> ExplainedRun:
    """Run ``target`` (a fixtures.targets.Target) serially as the reference, once
    with ``strategy`` untraced (workers started, pre-state shipped), then once
    traced; explain that run, following ``focus`` (None: the transaction most held
    back, see Explanation.most_held_back); ``options`` go to the strategy
    (strategies.get_strategy). Raises ResultsDiffer if it differs from serial,
    BlockRejected for an invalid block, IndexError for a ``focus`` outside it."""
    from parexec.block.pipeline import execute_block
    from parexec.fixtures.targets import fresh_block
    from parexec.parallel import run_trace
    from parexec.strategies import get_strategy

    n = len(target.block.transactions)
    if focus is not None and not 0 <= focus < n:
        raise IndexError(f"{target.name} has {n} transactions (0 to {n - 1}); there is no tx {focus}")
    serial, chosen = get_strategy("serial"), get_strategy(strategy, **options)
    with run_trace.recording() as reference_trace:
        reference = execute_block(fresh_block(target.block), target.pre_state, serial, 1, with_state_root=False)
    execute_block(fresh_block(target.block), target.pre_state, chosen, workers, with_state_root=False)
    with run_trace.recording() as trace:
        outcome = execute_block(fresh_block(target.block), target.pre_state, chosen, workers, with_state_root=False)
    diff = reference.first_difference(outcome)
    if diff:
        raise ResultsDiffer(f"{target.name}: {strategy} with {workers} workers differs from serial in {diff}")
    serial_seconds = reference_trace.commits[-1].at - reference_trace.phases[0][1] if n else 0.0
    explanation = explain(trace, outcome.tx_results, strategy, workers)
    if focus is None:
        focus = explanation.most_held_back()
    return ExplainedRun(target.name, explanation, serial_seconds, focus)
