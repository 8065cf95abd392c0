"""The interface every strategy implements."""

from __future__ import annotations

from typing import Any, Protocol

from parexec.block.env import BlockEnv
from parexec.model import Block, TxResult
from parexec.state.overlay import OverlayState


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
