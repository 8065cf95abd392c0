"""Execution strategies. Each owns the transaction phase of a block (see block.pipeline)."""

from parexec.strategies.base import Strategy
from parexec.strategies.block_stm import BlockSTMStrategy
from parexec.strategies.declared import AccountLocksStrategy, DagStrategy, SlotLocksStrategy
from parexec.strategies.occ import OCCStrategy
from parexec.strategies.serial import SerialStrategy

STRATEGIES: dict[str, type] = {
    SerialStrategy.name: SerialStrategy,
    OCCStrategy.name: OCCStrategy,
    BlockSTMStrategy.name: BlockSTMStrategy,
    AccountLocksStrategy.name: AccountLocksStrategy,
    SlotLocksStrategy.name: SlotLocksStrategy,
    DagStrategy.name: DagStrategy,
}


def get_strategy(name: str, **options) -> Strategy:
    """A strategy by name; ``min_parallel_txs`` sets the block size below which the
    parallel strategies run serially (default 8)."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; choose from: {', '.join(sorted(STRATEGIES))}"
        ) from None
    return cls(**options)


__all__ = ["Strategy", "STRATEGIES", "get_strategy"]
