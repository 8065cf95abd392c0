"""Execution strategies. Each owns the transaction phase of a block (see
block.pipeline); the contract is in strategies.base, and docs/adding-a-strategy.md
walks through adding one. ``STRATEGIES`` is the registry every command reads."""

from parexec.strategies.bal import BalStrategy
from parexec.strategies.base import Strategy
from parexec.strategies.block_stm import BlockSTMStrategy
from parexec.strategies.declared import (
    AccountLocksStrategy,
    DagStrategy,
    DeclaredAccessStrategy,
    SlotLocksStrategy,
)
from parexec.strategies.occ import OCCStrategy
from parexec.strategies.serial import SerialStrategy

STRATEGIES: dict[str, type] = {
    SerialStrategy.name: SerialStrategy,
    OCCStrategy.name: OCCStrategy,
    BlockSTMStrategy.name: BlockSTMStrategy,
    AccountLocksStrategy.name: AccountLocksStrategy,
    SlotLocksStrategy.name: SlotLocksStrategy,
    DagStrategy.name: DagStrategy,
    BalStrategy.name: BalStrategy,
}


PARALLEL = tuple(n for n in STRATEGIES if n != "serial")
DECLARED = tuple(n for n, cls in STRATEGIES.items() if issubclass(cls, DeclaredAccessStrategy))
TAKES_HINTS = DECLARED + (BalStrategy.name,)  # those that read --hints


def split_spec(spec: str) -> tuple[str, dict]:
    """A strategy spec ``NAME[:k=v,...]`` (as ``bench --strategies`` takes, e.g.
    ``occ:redo=off``) as its name and options."""
    name, _, rest = spec.partition(":")
    options = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or key not in SPEC_OPTIONS:
            raise ValueError(f"bad strategy option {part!r} in {spec!r}; options: {', '.join(SPEC_OPTIONS)}")
        options[key] = value
    return name, options


SPEC_OPTIONS = ("redo",)


def get_strategy(name: str, hints=None, **options) -> Strategy:
    """A strategy by name; ``min_parallel_txs`` sets the block size below which the
    parallel strategies run serially (default 8). ``hints`` (block access lists,
    see parexec.access.access_list.AccessListHints) go to the declared-access
    strategies and EIP-7928 lists to ``bal``; the others do not use them.
    ``fallback`` (bal only): a block whose list is wrong runs with dag.
    ``predict`` (declared strategies): a block without a list is predicted by
    pre-execution instead of running with occ. ``redo`` (occ, block-stm): "auto",
    "on" or "off", operation-level repair of stale results."""
    name, given = split_spec(name)
    options.update(given)
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; choose from: {', '.join(sorted(STRATEGIES))}"
        ) from None
    if hints is not None and name in TAKES_HINTS:
        options["hints"] = hints
    if name != BalStrategy.name:
        options.pop("fallback", None)  # only bal has a fallback
    if name not in DECLARED:
        options.pop("predict", None)  # only the declared strategies predict
    if name not in (OCCStrategy.name, BlockSTMStrategy.name) or options.get("redo") is None:
        options.pop("redo", None)  # only these repair stale results
    return cls(**options)


__all__ = ["Strategy", "STRATEGIES", "PARALLEL", "DECLARED", "TAKES_HINTS", "get_strategy", "split_spec"]
