"""Run verification cases with a strategy and tally the results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from parexec.fixtures.case import FAILED, PASSED, SKIPPED, Case, CaseResult


@dataclass
class Tally:
    results: list[CaseResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == FAILED]

    def summary(self) -> str:
        """``N passed, M failed`` (``, K skipped`` when some were skipped)."""
        line = f"{self.count(PASSED)} passed, {self.count(FAILED)} failed"
        skipped = self.count(SKIPPED)
        return line + (f", {skipped} skipped" if skipped else "")


def run_cases(
    cases: Iterable[Case],
    strategy,
    workers: int = 1,
    on_result: Callable[[CaseResult], None] | None = None,
) -> Tally:
    tally = Tally()
    for case in cases:
        try:
            result = case.run(strategy, workers)
        except Exception as exc:  # a bug in parexec must not hide the other cases
            result = CaseResult(case.name, FAILED, f"internal error: {type(exc).__name__}: {exc}")
        tally.results.append(result)
        if on_result is not None:
            on_result(result)
    return tally
