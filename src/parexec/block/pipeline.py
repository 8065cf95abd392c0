"""The one path every strategy takes through a block.

input block -> pre-block system calls -> the strategy runs the transactions (each
checked for validity where it executes, so signature recovery runs on the
workers) -> post-block writes (withdrawals, rewards, request system calls) ->
receipts (encoded and hashed on the workers, if the strategy used them) and
requests -> outcome.
Strategies own only the transaction phase, so block semantics are written once.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager

from parexec.block.receipts import build_receipts
from parexec.block.requests import block_requests, requests_hash
from parexec.block.system import block_start, post_block_writes
from parexec.block.validation import fork_lineage
from parexec.model import Block, BlockOutcome
from parexec.parallel.worker_pool import pool_in_use
from parexec.state.root import state_root
from parexec.state.view import StateView


@contextmanager
def no_cyclic_gc():
    """Pause the cyclic garbage collector: a full collection walks every object of
    a large pre-state (tens of ms) and would land at a random point of a block.
    What the block leaves behind is collected after it, as a node would between
    blocks. Reference counting frees most garbage meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def workers_on_the_block():
    """The worker pool, if the strategy ran the block on it (else None); its
    block ends on leaving (the workers collect their garbage then)."""
    pool = pool_in_use()
    try:
        yield pool
    finally:
        if pool is not None:
            pool.end_block(let_go=True)


def execute_block(
    block: Block, pre_state: StateView, strategy, workers: int = 1, with_state_root: bool = True
) -> BlockOutcome:
    """Execute ``block`` on ``pre_state`` (not mutated) with ``strategy``.

    The state root is computed when the pre-state is complete and
    ``with_state_root`` is set (it is the same serial work for every strategy;
    benchmarks leave it out). Raises BlockRejected if the block is invalid.
    The cyclic garbage collector is paused meanwhile (see no_cyclic_gc).
    """
    with no_cyclic_gc():
        return _execute_block(block, pre_state, strategy, workers, with_state_root)


def _execute_block(block, pre_state, strategy, workers, with_state_root) -> BlockOutcome:
    started = time.perf_counter()
    env, state = block_start(block, pre_state)
    complete = getattr(pre_state, "complete", False)  # a MemoryState or a chain's StoreState
    results, stats = strategy.run_transactions(env, block, state, workers)
    with workers_on_the_block() as pool:  # they hash the receipts' leaves (if the strategy used them)
        post_writes, post_code, calls = post_block_writes(env, block, state, complete)
        state.apply(post_writes, post_code)
        requests = None
        if "prague" in env.forks:  # rejects a block with a malformed deposit log
            requests = block_requests(results, calls.withdrawals, calls.consolidations)
        receipts, receipts_root, bloom = build_receipts(
            block, results, intermediate_state_roots(block, pre_state, results),
            leaves=None if pool is None else pool.receipt_leaves,
        )
    diff, new_code = state.diff(), state.new_code()
    root = None
    if with_state_root and complete:
        post = pre_state.copy()
        post.apply(diff, new_code)
        root = state_root(post)
    stats.seconds = time.perf_counter() - started
    return BlockOutcome(
        receipts=receipts,
        gas_used=receipts[-1].cumulative_gas_used if receipts else 0,
        blob_gas_used=sum(r.blob_gas_used for r in results),
        logs_bloom=bloom,
        receipts_root=receipts_root,
        state_diff=diff,
        new_code=new_code,
        state_root=root,
        # a partial pre-state may lack the request contracts' queues
        requests_hash=requests_hash(requests) if requests is not None and complete else None,
        tx_results=results,
        stats=stats,
    )


def intermediate_state_roots(block: Block, pre_state, results) -> list[bytes] | None:
    """Before Byzantium each receipt holds the state root after its transaction.

    Only a complete pre-state has a meaningful root; for partial ones (mainnet
    dumps) this returns None and the receipts carry no root. (No pre-Byzantium
    fork has pre-block system writes, so the pre-state is the first tx's base.)
    """
    if "byzantium" in fork_lineage(block.vm_class):
        return None
    if not getattr(pre_state, "complete", False):
        return None
    state = pre_state.copy()
    roots = []
    for result in results:
        state.apply(result.writes, result.new_code)
        roots.append(state_root(state))
    return roots
