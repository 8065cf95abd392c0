"""What the coordinator and its worker processes say to each other.

Every message is a plain tuple whose first element is one of the kinds below
(pickling a tuple of builtins is the cheapest way across a pipe); the names are
for reading, the wire never carries more than before.

Coordinator to worker (``parallel.worker.worker_main``):

    (BASE, bytes)                   a new pre-state (a pickled MemoryState)
    (ADVANCE, diff, new_code)       the pre-state moved on by one block's diff
    (BLOCK, bytes | None, writes, new_code, traced, access_list, log_ops)
                                    a new block without its transactions (pickled
                                    Block, or None: the same block as before) and
                                    its pre-block system writes; ``traced``: time
                                    every execution (parallel.run_trace);
                                    ``access_list``: None, or the number of
                                    transactions of the block's EIP-7928 list,
                                    whose RLP follows as it is, a frame of its
                                    own (Connection.recv_bytes: the same bytes
                                    go to every worker, unpickled; the worker
                                    puts (RLP, transactions) here as it reads
                                    the message): the worker enters
                                    the accounts its transactions read as their
                                    write sets (parallel.list_memory) and holds
                                    each result to it (access.eip7928_check),
                                    sending one that agrees without its reads,
                                    with the count of the list's changes it
                                    accounts for; ``log_ops``: None, or the
                                    transactions whose executions log what they
                                    compute from storage (evm.op_log), so that a
                                    stale result can be repaired
    (RUN, updates, txs, tasks, chain)
                                    apply the multi-version memory ``updates``,
                                    add ``txs`` (index -> transaction: each is sent
                                    once, with its first task), then execute
                                    ``tasks`` (indices, in the order given), each
                                    on the memory below it; with ``chain`` each
                                    result is also recorded locally, so later tasks
                                    of the run see it
    (CLAIM, k, only)                the coordinator executes every transaction up
                                    to ``k`` (``only``: ``k`` is a tuple, those
                                    transactions alone) elsewhere: skip them
                                    (checked between tasks, in this run and in
                                    queued ones) and send each further result of
                                    a run that holds one at once
    (RECEIPTS, n, first, fields)    encode receipts ``first`` .. of the block's ``n``
                                    (``fields``: each one's type, status,
                                    cumulative gas, bloom and logs RLP) and hash
                                    them into the receipts trie's leaves; answered
                                    by (RECEIPTS, references) or (ERROR, text)
    (ACCESSED, txs)                 the accounts and slots the worker's executions of
                                    ``txs`` accessed, each one it held to the
                                    block's EIP-7928 list and sent without its
                                    reads; answered by (ACCESSED, addresses, slots)
                                    or (ERROR, text)
    (IDLE,)                         the block's work is over: collect the garbage
                                    it left while the coordinator finishes it
    (PING,)                         answer (PING,) when ready (a started pool's
                                    processes may still be importing)
    (STOP,)

A multi-version memory update (the ``updates`` of RUN, in the order the
coordinator made them):

    (WRITE, j, writes, new_code)    transaction j's entries are now ``writes``
    (ESTIMATE, j)                   transaction j was aborted: its entries are
                                    ESTIMATE markers until it writes again

Worker to coordinator, per RUN: any number of (PARTIAL, [outcome, ...], accessed)
and then one (RESULTS, [outcome, ...], accessed), where ``accessed`` is None or
(addresses, slots): the accounts and slots the results it held to the block's
EIP-7928 list since its last reply accessed, none it has sent before (the
coordinator gathers them as they come, instead of asking ACCESSED once the
block is done). An outcome on the wire is
(kind, j, value): (DONE, j, encoded TxResult) | (BLOCKED, j, writer) |
(INVALID, j, reason) | (ERROR, j, traceback text), followed by the
execution's start and end (time.monotonic) when the block is traced. Runs may queue up: the
coordinator sends the next chunk before the current one is done, so a worker
never waits for work.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from parexec.model import Log, TxResult

# coordinator -> worker
BASE = "base"
ADVANCE = "advance"
BLOCK = "block"
RUN = "run"
CLAIM = "claim"
RECEIPTS = "receipts"
ACCESSED = "accessed"
IDLE = "idle"
PING = "ping"
STOP = "stop"

# multi-version memory updates, inside RUN
WRITE = "w"
ESTIMATE = "e"

# worker -> coordinator
PARTIAL = "partial"
RESULTS = "results"

# outcome kinds
DONE = "done"  # executed: value is the TxResult
BLOCKED = "blocked"  # read an ESTIMATE: value is the writer it waits for
INVALID = "invalid"  # not valid on the state it saw: value is the reason
ERROR = "error"  # raised: value is the traceback text


class Outcome(NamedTuple):
    """One speculative execution as the coordinator receives it."""

    kind: str  # DONE, BLOCKED, INVALID or ERROR
    tx: int
    value: Any  # a TxResult (DONE), the blocking writer (BLOCKED), a text (INVALID, ERROR)
    worker: Any = None  # the pool's Worker that executed it (None: the coordinator)


RESULT_FIELDS = tuple(TxResult.__dataclass_fields__)


def encode_result(result: TxResult) -> tuple:
    """A TxResult as plain tuples: about half the pickling cost of the dataclasses."""
    logs = tuple((log.address, log.topics, log.data) for log in result.logs)
    return tuple(logs if name == "logs" else getattr(result, name) for name in RESULT_FIELDS)


def decode_result(fields: tuple) -> TxResult:
    result = TxResult(*fields)
    result.logs = tuple(Log(*log) for log in result.logs)
    return result
