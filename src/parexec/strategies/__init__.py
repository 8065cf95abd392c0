"""Execution strategies. Each owns the transaction phase of a block (see block.pipeline)."""

from parexec.strategies.base import Strategy
from parexec.strategies.block_stm import BlockSTMStrategy
from parexec.strategies.occ import OCCStrategy
from parexec.strategies.serial import SerialStrategy

STRATEGIES: dict[str, type] = {
    SerialStrategy.name: SerialStrategy,
    OCCStrategy.name: OCCStrategy,
    BlockSTMStrategy.name: BlockSTMStrategy,
}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; choose from: {', '.join(sorted(STRATEGIES))}"
        ) from None


__all__ = ["Strategy", "STRATEGIES", "get_strategy"]
