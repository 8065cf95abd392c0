"""What holds a simulated figure: the calibrated overheads, each at zero in turn.

A model's prediction carries every overhead the calibration measured on this
machine (analysis.simulator.Overheads). Zeroing one at a time over the same
blocks shows which of them costs the figure most; zeroing the coordinator's
own together shows how far a coordinator that costs nothing but its executions
would take it; zeroing all of them shows
what the schedule alone allows (the blocks' longest transactions, their
dependencies, the work outside the transactions), which no overhead explains.
Every figure here is simulated, not measured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from statistics import geometric_mean

from parexec.analysis.block_profile import BlockProfile
from parexec.analysis.simulator import MODELS, Overheads, model_of, simulate

MOVES = 5e-4  # an overhead whose zeroing moves the figure by less is left out

# overheads a profile may hold measured on its own block, charged in place of the
# calibrated one: the BlockProfile field that holds each (list_load in seconds a block,
# charged in place of a cost per transaction; list_view a share, as view is)
MEASURED_PER_BLOCK = {"list_load": "list_load", "view": "list_view"}
SHARES = frozenset({"contention", "view"})  # overheads that slow execution by a share, not a cost

# the overheads as the calibration measures them (entering a list's account is
# fitted as one cost per account, per location and per change), and what each is
# counted per
GROUPS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("contention", ("contention",), "execution slowed by it, beside other processes"),
    ("view", ("view",), "execution slowed by it, alone (bal: each block's own list, where measured)"),
    ("commit", ("commit",), "per tx, coordinator (bal: per result taken in from a worker)"),
    ("execution", ("execution",), "per execution"),
    ("ipc", ("ipc",), "per round trip"),
    ("start", ("start",), "per block"),
    ("sending", ("send", "send_byte"), "the block to each worker past the first (bal: with its list, to each)"),
    ("messages", ("message",), "per chunk of work or claim written to a worker (bal)"),
    ("list_index", ("list_index",), "per tx, every process"),
    ("list_load", ("list_load",), "per tx, coordinator (each block's own, where measured)"),
    ("entering", ("enter_account", "enter_location", "enter_change"), "per account + location + change"),
    ("stage", ("stage",), "per tx, coordinator"),
    ("commit_in_order", ("commit_in_order",), "per tx, coordinator, in block order as results come in"),
    ("settle", ("settle",), "per tx, coordinator"),
    ("result_check", ("result_check",), "per tx"),
)


# what the coordinator alone pays, per transaction or per message it writes: at zero
# together, how far the figure gets with a coordinator that costs nothing but its executions
COORDINATOR = ("commit", "message", "list_load", "stage", "commit_in_order", "settle")


@dataclass(frozen=True)
class WhatIf:
    overhead: str  # a GROUPS name
    counted: str  # what it is counted per (GROUPS)
    values: dict[str, float]  # its Overheads fields, as calibrated
    speedup: float  # the geometric mean with it at zero


@dataclass(frozen=True)
class WhatIfs:
    strategy: str
    workers: int
    targets: int
    as_calibrated: float  # the geometric-mean speedup with every overhead
    without_any: float  # ... with none
    rows: list[WhatIf]  # one per overhead that moves the figure (MOVES), the costliest first
    # ... with every COORDINATOR cost at zero, where more than one of them moves it (else None:
    # the one that does is its row)
    coordinator_free: float | None = None


def what_ifs(profiles: list[BlockProfile], strategy: str, workers: int, overheads: Overheads) -> WhatIfs:
    """``strategy``'s geometric-mean speedup over ``profiles`` at ``workers``, as
    calibrated, with each non-zero overhead at zero in turn, with the
    coordinator's own (COORDINATOR) at zero together, and with none. An
    overhead whose zeroing moves the figure by less than MOVES (one the strategy's
    model does not charge, such as another engine's, or a fitted cost near zero)
    is left out."""
    def mean_speedup(oh: Overheads, zeroed=()) -> float:
        measured = {MEASURED_PER_BLOCK[f]: 0.0 for f in zeroed if f in MEASURED_PER_BLOCK}  # a block's own, zeroed too
        return geometric_mean([simulate(replace(p, **measured) if measured else p, strategy, workers, oh)
                               for p in profiles])

    as_calibrated = mean_speedup(overheads)
    own = model_of(strategy) is MODELS["all-at-once"]  # bal's model takes a block's own measurements
    rows = []
    for name, names, counted in GROUPS:
        values = {f: _as_charged(f, overheads, profiles if own else []) for f in names}
        if any(values.values()):
            speedup = mean_speedup(replace(overheads, **dict.fromkeys(names, 0.0)), names)
            if abs(speedup / as_calibrated - 1) >= MOVES:
                rows.append(WhatIf(name, counted, values, speedup))
    rows.sort(key=lambda row: -row.speedup)
    none = Overheads(**dict.fromkeys((f.name for f in fields(Overheads)), 0.0))
    coordinator_free = None
    if sum(name in COORDINATOR for row in rows for name in row.values) > 1:
        coordinator_free = mean_speedup(replace(overheads, **dict.fromkeys(COORDINATOR, 0.0)), COORDINATOR)
    return WhatIfs(strategy, workers, len(profiles), as_calibrated, mean_speedup(none, MEASURED_PER_BLOCK), rows,
                   coordinator_free)


def _as_charged(name: str, overheads: Overheads, profiles: list[BlockProfile]) -> float:
    """The overhead ``name`` as the model charges it: where profiles hold their
    block's own measurement of it, over those blocks (a share: its mean; a cost:
    per transaction)."""
    field = MEASURED_PER_BLOCK.get(name)
    own = [getattr(p, field) for p in profiles if field is not None and getattr(p, field) is not None]
    if not own:
        return getattr(overheads, name)
    if name in SHARES:
        return sum(own) / len(own)
    return sum(own) / sum(len(p.txs) for p in profiles if getattr(p, field) is not None)
