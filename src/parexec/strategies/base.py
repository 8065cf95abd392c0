"""The contract of a strategy, and what the parallel ones share.

A strategy owns the transaction phase of a block (block.pipeline does the rest:
system writes, receipts, roots). Its result must equal serial execution's
exactly, whatever it does to get there. To add one, see docs/adding-a-strategy.md.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from parexec.block.env import BlockEnv
from parexec.model import Block, RunStats, TxResult
from parexec.state.overlay import OverlayState
from parexec.strategies.serial import SerialStrategy


class Strategy(Protocol):
    name: ClassVar[str]  # the name the command line knows it by
    # the engine it runs on, as analysis.simulator models it ("serial", "occ",
    # "mv-run"); None: it cannot be simulated
    engine: ClassVar[str | None]

    def run_transactions(
        self, env: BlockEnv, block: Block, state: OverlayState, workers: int
    ) -> tuple[list[TxResult], RunStats]:
        """Execute the block's transactions so that the result equals serial execution.

        On return ``state`` holds every transaction's writes, applied in block order,
        and the list holds one TxResult per transaction. Raises BlockRejected on an
        invalid transaction, exactly where serial execution would.
        """
        ...


MIN_PARALLEL_TXS = 8  # below this a block runs serially: dispatch costs more than it saves


class ParallelStrategy:
    """What parallel strategies share: one worker, or a small block, runs serially."""

    name: ClassVar[str] = "parallel"
    engine: ClassVar[str | None] = None

    def __init__(self, min_parallel_txs: int = MIN_PARALLEL_TXS):
        self.min_parallel_txs = max(2, min_parallel_txs)

    def run_transactions(self, env, block, state, workers) -> tuple[list[TxResult], RunStats]:
        if workers <= 1 or len(block.transactions) < self.min_parallel_txs:
            return SerialStrategy().run_transactions(env, block, state, 1)
        return self.run_parallel(env, block, state, workers)

    def run_parallel(self, env, block, state, workers) -> tuple[list[TxResult], RunStats]:
        """run_transactions on ``workers`` processes (at least 2), the coordinator included."""
        raise NotImplementedError
