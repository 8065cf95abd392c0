"""The one path every strategy takes through a block.

input block -> stateless checks -> pre-block system writes -> the strategy runs
the transactions -> post-block writes (withdrawals, rewards) -> receipts -> outcome.
Strategies own only the transaction phase, so block semantics are written once.
"""

from __future__ import annotations

import time

from parexec.block.env import BlockEnv
from parexec.block.receipts import build_receipts
from parexec.block.system import post_block_writes, pre_block_writes
from parexec.block.validation import check_transactions_statelessly
from parexec.model import Block, BlockOutcome
from parexec.state.overlay import OverlayState
from parexec.state.view import StateView


def execute_block(block: Block, pre_state: StateView, strategy, workers: int = 1) -> BlockOutcome:
    """Execute ``block`` on ``pre_state`` (not mutated) with ``strategy``.

    Raises BlockRejected if the block is invalid.
    """
    started = time.perf_counter()
    check_transactions_statelessly(block)
    env = BlockEnv.for_block(block)
    state = OverlayState(pre_state)
    state.apply(*pre_block_writes(env, block, state))
    results, stats = strategy.run_transactions(env, block, state, workers)
    state.apply(*post_block_writes(env, block, state))
    receipts, receipts_root, bloom = build_receipts(block, results)
    stats = dict(stats)
    stats["seconds"] = time.perf_counter() - started
    return BlockOutcome(
        receipts=receipts,
        gas_used=receipts[-1].cumulative_gas_used if receipts else 0,
        blob_gas_used=sum(r.blob_gas_used for r in results),
        logs_bloom=bloom,
        receipts_root=receipts_root,
        state_diff=state.diff(),
        new_code=state.new_code(),
        tx_results=results,
        stats=stats,
    )
