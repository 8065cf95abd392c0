"""What analysis starts from: one block's serial execution, per transaction.

Each transaction's footprint (what it really read and wrote), gas and wall
time. Times are the median of a few serial runs, each on freshly decoded
transactions so that sender recovery is included, as in ``bench``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from parexec.access.footprint import Footprint
from parexec.fixtures.targets import Target, fresh_block
from parexec.block.pipeline import execute_block
from parexec.block.receipts import build_receipts, receipt_leaves
from parexec.parallel.redo_choice import logged
from parexec.strategies.serial import SerialStrategy


@dataclass(frozen=True)
class TxProfile:
    index: int
    gas: int
    seconds: float
    footprint: Footprint
    gas_limit: int | None = None  # what schedulers know before execution (None: use gas)
    # occ's operation-level redo, probed on the block's starting state (see probe_redo)
    logged_seconds: float | None = None  # an execution that logs its operations (None: not probed)
    redo_seconds: float | None = None  # repairing its result, stale there (None: not repairable)
    logged: bool = False  # whether occ --redo auto logs it


@dataclass(frozen=True)
class BlockProfile:
    target: str
    txs: list[TxProfile]
    block_seconds: float  # the whole serial block (median), transactions and the rest
    # the block's work outside the strategy (median; the same for every strategy:
    # system calls, rewards, receipts); None: all but the transactions
    pipeline_seconds: float | None = None
    # of which encoding the receipts and hashing them into the trie's leaves (median):
    # what a block run on the workers has them share (parallel.worker_pool.receipt_leaves)
    receipts_seconds: float = 0.0
    # bal: seconds for its coordinator to decode and enter the block's exact EIP-7928
    # list whole (median; calibration.with_list_load); None: not measured, the model
    # charges Overheads.list_load per transaction instead
    list_load: float | None = None
    # bal: the size of that list (its RLP, in bytes), which its coordinator writes to every worker
    list_bytes: int = 0
    # bal: how much slower the block's transactions execute on that list (entered whole), one
    # process alone, than in serial execution (a share; calibration.with_list_load); None: not
    # measured, the model charges Overheads.view instead
    list_view: float | None = None

    @property
    def gas(self) -> int:
        return sum(t.gas for t in self.txs)

    @property
    def tx_seconds(self) -> float:
        return sum(t.seconds for t in self.txs)


def profile_block(target: Target, repeat: int = 3) -> BlockProfile:
    """Serial runs of ``target``'s block: footprints from the first, times as medians."""
    serial = SerialStrategy(time_transactions=True)
    runs, block_times, pipeline_times, receipt_times, results = [], [], [], [], None
    for _ in range(repeat):
        outcome = execute_block(fresh_block(target.block), target.pre_state, serial, 1, with_state_root=False)
        runs.append(outcome.stats.tx_seconds)
        block_times.append(outcome.stats.seconds)
        pipeline_times.append(outcome.stats.seconds - outcome.stats.run_seconds)
        results = results or outcome.tx_results
        receipt_times.append(receipt_leaf_seconds(target.block, results))
    probed = probe_redo(target, results)
    chosen = logged(target.block, "auto") or frozenset()
    txs = [
        TxProfile(r.index, r.gas_used, statistics.median(run[r.index] for run in runs), Footprint.of_result(r),
                  target.block.transactions[r.index].gas, *probed[r.index], r.index in chosen)
        for r in results
    ]
    return BlockProfile(target.name, txs, statistics.median(block_times), statistics.median(pipeline_times),
                        statistics.median(receipt_times))


def receipt_leaf_seconds(block, results) -> float:
    """How long encoding ``results``' receipts and hashing them into the trie's
    leaves takes in one process."""
    took = []

    def timed(fields):
        started = time.perf_counter()
        references = receipt_leaves(len(fields), 0, fields)
        took.append(time.perf_counter() - started)
        return references

    build_receipts(block, results, leaves=timed)
    return took[0]


def probe_redo(target: Target, results) -> list[tuple[float | None, float | None]]:
    """(logged_seconds, redo_seconds) per transaction: each executed with its
    operation log on the block's starting state (where every dependency is
    missed), and, where that result is stale, repaired (evm.redo) against the
    state serial execution gives it."""
    from parexec.block.system import block_start
    from parexec.evm.redo import redo
    from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
    from parexec.state.view import read_value

    block = fresh_block(target.block)
    env, state = block_start(block, target.pre_state)
    start = state.copy()
    probed = []
    for j, tx in enumerate(block.transactions):
        began = time.perf_counter()
        try:
            spec = execute_transaction(env, start, tx, j, predict=True, log_ops=True)
        except InvalidTransaction:
            spec = None
        logged_seconds = time.perf_counter() - began
        redo_seconds = None
        if spec is not None and any(read_value(state, loc) != v for loc, v in spec.reads.items()):
            began = time.perf_counter()
            repaired = redo(env, spec, lambda loc: read_value(state, loc))
            if not isinstance(repaired, str):
                redo_seconds = time.perf_counter() - began
        probed.append((logged_seconds, redo_seconds))
        state.apply(results[j].writes, results[j].new_code)
    return probed
