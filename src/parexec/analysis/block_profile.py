"""What analysis starts from: one block's serial execution, per transaction.

Each transaction's footprint (what it really read and wrote), gas and wall
time. Times are the median of a few serial runs, each on freshly decoded
transactions so that sender recovery is included, as in ``bench``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from parexec.access.footprint import Footprint
from parexec.fixtures.targets import Target, fresh_block
from parexec.block.pipeline import execute_block
from parexec.strategies.serial import SerialStrategy


@dataclass(frozen=True)
class TxProfile:
    index: int
    gas: int
    seconds: float
    footprint: Footprint
    gas_limit: int | None = None  # what schedulers know before execution (None: use gas)


@dataclass(frozen=True)
class BlockProfile:
    target: str
    txs: list[TxProfile]
    block_seconds: float  # the whole serial block (median), transactions and the rest
    # the block's work outside the strategy (median; the same for every strategy:
    # system calls, rewards, receipts); None: all but the transactions
    pipeline_seconds: float | None = None

    @property
    def gas(self) -> int:
        return sum(t.gas for t in self.txs)

    @property
    def tx_seconds(self) -> float:
        return sum(t.seconds for t in self.txs)


def profile_block(target: Target, repeat: int = 3) -> BlockProfile:
    """Serial runs of ``target``'s block: footprints from the first, times as medians."""
    serial = SerialStrategy(time_transactions=True)
    runs, block_times, pipeline_times, results = [], [], [], None
    for _ in range(repeat):
        outcome = execute_block(fresh_block(target.block), target.pre_state, serial, 1, with_state_root=False)
        runs.append(outcome.stats.tx_seconds)
        block_times.append(outcome.stats.seconds)
        pipeline_times.append(outcome.stats.seconds - outcome.stats.run_seconds)
        results = results or outcome.tx_results
    txs = [
        TxProfile(r.index, r.gas_used, statistics.median(run[r.index] for run in runs), Footprint.of_result(r),
                  target.block.transactions[r.index].gas)
        for r in results
    ]
    return BlockProfile(target.name, txs, statistics.median(block_times), statistics.median(pipeline_times))
