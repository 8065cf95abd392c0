"""The interface every strategy implements."""

from __future__ import annotations

from typing import Any, Protocol

from parexec.block.env import BlockEnv
from parexec.model import Block, TxResult
from parexec.state.overlay import OverlayState
from parexec.strategies.serial import SerialStrategy


class Strategy(Protocol):
    name: str

    def run_transactions(
        self, env: BlockEnv, block: Block, state: OverlayState, workers: int
    ) -> tuple[list[TxResult], dict[str, Any]]:
        """Execute the block's transactions so that the result equals serial execution.

        On return ``state`` holds every transaction's writes, applied in block order,
        and the list holds one TxResult per transaction. Raises BlockRejected on an
        invalid transaction, exactly where serial execution would.
        """
        ...


MIN_PARALLEL_TXS = 8  # below this a block runs serially: dispatch costs more than it saves


class ParallelStrategy:
    """What parallel strategies share: one worker, or a small block, runs serially."""

    name = "parallel"

    def __init__(self, min_parallel_txs: int = MIN_PARALLEL_TXS):
        self.min_parallel_txs = max(2, min_parallel_txs)

    def run_transactions(self, env, block, state, workers):
        if workers <= 1 or len(block.transactions) < self.min_parallel_txs:
            results, stats = SerialStrategy().run_transactions(env, block, state, 1)
            return results, {**stats, "mode": "serial"}
        return self.run_parallel(env, block, state, workers)

    def run_parallel(self, env, block, state, workers):
        raise NotImplementedError
