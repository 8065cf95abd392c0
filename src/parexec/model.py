"""The data that flows through parexec: block in, outcome out.

State locations are small tuples so that read and write sets are cheap to
hash, compare and send between processes:

    (BALANCE, address)        account balance (int)
    (NONCE, address)          account nonce (int)
    (CODE, address)           code hash (32 bytes; EMPTY_CODE_HASH for none)
    (EXISTS, address)         whether the account exists in the state trie (bool)
    (STORAGE, address, slot)  one storage slot (int)
    (STORAGE_RESET, address)  write only: the account's storage was wiped
                              (self-destruct, deletion, creation over old storage)
    (HAS_STORAGE, address)    read only: whether the account has any non-zero slot
                              (EIP-7610 creation-collision check)
    (BALANCE_DELTA, address)  write only: an amount added to the balance without
                              reading it (fee deltas, see below; negative for a
                              sender's debits)
    (BALANCE_FLOOR, address, amount)
                              read only: whether the balance is at least
                              ``amount`` (bool; balance floors, see below)

Fee deltas: every transaction pays the block's beneficiary, so if that payment
were a read-modify-write of its balance every pair of transactions would conflict;
the same holds for many transfers to one hot address. Credits (fees, value
received) are recorded as ``(BALANCE_DELTA, a)`` instead and settled in block
order; a transaction that really observes the balance (BALANCE, SELFBALANCE, the
account as sender, a value transfer out of it, an EIP-161 emptiness check while
nothing is credited) reads the exact serial value and writes an absolute
``(BALANCE, a)``. A write set never holds both.

Balance floors: a sender's balance is read only to check that it covers the
transaction's cost, then debited. Recording that as an exact read would chain
every transaction of one sender (an exchange's payouts) through its balance.
The check is recorded as ``(BALANCE_FLOOR, sender, cost)`` instead and the
debits, which the floor covers, as a negative ``BALANCE_DELTA``; a transaction
that really observes the sender's balance reads it exactly, as above.

A write of ``(EXISTS, a) = False`` deletes the account entirely (fields reset and
storage wiped); it is never combined with other writes to ``a`` in one write set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3

BALANCE = "balance"
NONCE = "nonce"
CODE = "code"
EXISTS = "exists"
STORAGE = "storage"
STORAGE_RESET = "storage_reset"
HAS_STORAGE = "has_storage"
BALANCE_DELTA = "balance_delta"
BALANCE_FLOOR = "balance_floor"

EMPTY_CODE_HASH: bytes = EMPTY_SHA3
EMPTY_TRIE_ROOT: bytes = BLANK_ROOT_HASH

# The account-field locations: their Account attribute, and their value when the
# account does not exist.
FIELD_ATTR = {NONCE: "nonce", BALANCE: "balance", CODE: "code_hash"}
FIELD_DEFAULT = {NONCE: 0, BALANCE: 0, CODE: EMPTY_CODE_HASH}

Location = tuple
ReadSet = dict  # Location -> value seen in the view
WriteSet = dict  # Location -> final value


@dataclass(slots=True)
class Account:
    """One account's fields; storage lives beside it in the state store."""

    nonce: int = 0
    balance: int = 0
    code_hash: bytes = EMPTY_CODE_HASH


@dataclass(frozen=True, slots=True)
class Log:
    address: bytes
    topics: tuple[int, ...]
    data: bytes


@dataclass(slots=True)
class TxResult:
    """What one transaction did to the state it ran on (nothing is applied yet)."""

    index: int
    reads: ReadSet | None  # None: checked against the block's EIP-7928 list where it ran (strategies.bal)
    writes: WriteSet
    new_code: dict[bytes, bytes]  # code hash -> code, for every CODE write
    gas_used: int  # gas charged to the sender (after refunds, data floor)
    success: bool
    logs: tuple[Log, ...]
    blob_gas_used: int = 0
    bloom: int = 0  # of this transaction's logs (computed where it executed)
    logs_rlp: bytes = b"\xc0"  # RLP of the logs as a receipt holds them (ditto)
    created: tuple[bytes, ...] = ()
    destroyed: tuple[bytes, ...] = ()
    wiped: tuple[bytes, ...] = ()  # accounts whose storage it resets (a STORAGE_RESET write)
    error: str | None = None  # the EVM error of a failed (but valid) tx
    sender: bytes | None = None  # recovered where it executed (declared-access strategies use it)
    # bal: the list's changes at its index that it accounts for, where a worker held it to the
    # list (and dropped its reads); the coordinator holds the count to the list's
    list_changes: int | None = None
    # what it computed from storage, where a speculative execution logged it (evm.op_log), for a
    # repair (pickled, as a worker sends it)
    op_log: Any = None


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_type: int
    success: bool
    cumulative_gas_used: int
    logs: tuple[Log, ...]
    bloom: int
    state_root: bytes | None = None  # before Byzantium, when the full state is known


@dataclass
class Block:
    """A block ready to execute: py-evm header and transactions plus the fork rules.

    ``vm_class`` is the py-evm VM whose rules apply; ``ancestor_hashes[0]`` is the
    parent hash, ``[1]`` the grandparent and so on (for BLOCKHASH). Senders are
    recovered where each transaction executes (py-evm caches them on the object).
    """

    header: Any  # eth.abc.BlockHeaderAPI
    transactions: Sequence[Any]  # eth.abc.SignedTransactionAPI
    vm_class: type
    ancestor_hashes: Any  # parexec.block.env.AncestorHashes
    uncles: Sequence[Any] = ()
    withdrawals: Sequence[Any] | None = None
    name: str = ""
    # True when transactions carry no real signature and their senders are given
    # (the Prague dump); then senders cannot be recovered, only copied.
    senders_given: bool = False

    @property
    def number(self) -> int:
        return self.header.block_number

    @property
    def fork(self) -> str:
        return self.vm_class.fork


@dataclass
class RunStats:
    """What a strategy did to produce a block's outcome. The outcome is the same
    for every strategy; these counts of the work are not."""

    txs: int = 0
    mode: str = "serial"  # "parallel" when worker processes took part
    executions: int = 0  # transaction executions of every kind (pre-executions included)
    coordinator_executions: int = 0  # of those, the ones the coordinator did itself (the rest ran on workers)
    reexecutions: int = 0  # executions thrown away and done again (aborts, stale results)
    speculative_accepted: int = 0  # speculative results committed as they were
    blocked: int = 0  # executions that met an ESTIMATE and waited for its writer
    gave_up: bool = False  # speculation stopped; the coordinator finished the block alone
    workers_replaced: int = 0  # worker processes that died or hung in this block and were replaced
    workers_hung: int = 0  # of those, the ones found hung (silent past the pool's timeout)
    # declared-access strategies (hints says where their footprints came from)
    hints: str | None = None  # "access list" or "pre-execution"
    lock_waits: int = 0  # transactions that waited for a declared predecessor
    mispredictions: int = 0  # executions outside their declared footprint
    dependencies: int = 0  # declared dependency edges
    pre_executions: int = 0  # executions on the pre-block state to predict footprints
    # timing
    seconds: float = 0.0  # the whole block, wall time (set by block.pipeline)
    tx_seconds: list[float] | None = None  # per transaction (serial, when asked to time them)
    run_seconds: float | None = None  # the strategy's own part of the block (serial, when asked to time)
    redo: RedoStats | None = None  # where stale results may be repaired (occ with --redo)

    def counters(self) -> dict[str, int]:
        """Replaced workers if any, the redo counters where stale results may be
        repaired, and the declared-access counters for strategies that declare footprints."""
        counters = {}
        if self.workers_replaced:  # faults: shown only when there were some
            counters["workers_replaced"] = self.workers_replaced
            counters["workers_hung"] = self.workers_hung
        if self.redo is not None:
            counters["repaired"] = self.redo.repaired
            counters["redo_fallbacks"] = sum(self.redo.fallbacks.values())
        if self.hints is None:
            return counters
        return counters | {"lock_waits": self.lock_waits, "mispredictions": self.mispredictions,
                "dependencies": self.dependencies, "pre_executions": self.pre_executions}


@dataclass
class RedoStats:
    """Operation-level redo in one block (evm.redo): stale results repaired instead
    of executed again, and why the others could not be."""

    logged: int = 0  # speculative results that arrived with an operation log
    log_bytes: int = 0  # their logs, as they travelled (pickled; unpickled only to repair)
    repaired: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)  # reason -> stale results executed again
    redo_seconds: float = 0.0  # spent in redo, repaired or not
    exact: int = 0  # full re-executions of stale results
    exact_seconds: float = 0.0  # and their time
    # with PAREXEC_REDO_CHECK: (redo seconds, full execution seconds) of each repaired transaction
    checked: list[tuple[float, float]] = field(default_factory=list)

    def saved_seconds(self) -> float | None:
        """What the repairs saved, against this block's mean full re-execution."""
        if not self.exact:
            return None
        return self.repaired * self.exact_seconds / self.exact - self.redo_seconds


@dataclass
class BlockOutcome:
    """The result of executing a block: the same for every strategy."""

    receipts: list[Receipt]
    gas_used: int
    blob_gas_used: int
    logs_bloom: int
    receipts_root: bytes
    state_diff: WriteSet  # every location the block changed, with its final value
    new_code: dict[bytes, bytes]
    state_root: bytes | None = None  # only when the whole pre-state is known
    requests_hash: bytes | None = None  # EIP-7685, from Prague on
    tx_results: list[TxResult] = field(default_factory=list)
    stats: RunStats = field(default_factory=RunStats)

    def first_difference(self, other: "BlockOutcome") -> str | None:
        """The first result field in which ``other`` differs (stats and per-tx read
        sets may differ between strategies; results may not)."""
        for name in ("gas_used", "blob_gas_used", "logs_bloom", "receipts_root", "requests_hash"):
            if getattr(self, name) != getattr(other, name):
                return name
        if None not in (self.state_root, other.state_root) and self.state_root != other.state_root:
            return "state_root"  # compared when both were computed
        for i, (a, b) in enumerate(zip(self.receipts, other.receipts)):
            if a != b:
                return f"receipt {i}"
        if len(self.receipts) != len(other.receipts):
            return "receipt count"
        if self.state_diff != other.state_diff:
            return "state_diff"
        if self.new_code != other.new_code:
            return "new_code"
        return None


def show(value) -> str:
    """A value as messages print it: bytes and large numbers in hex."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and value > 2**64:
        return hex(value)
    return str(value)


class BlockRejected(Exception):
    """The block is invalid (e.g. an invalid transaction); serial execution rejects it.

    ``rule``, where known, is the name the execution-spec-tests give the broken rule
    (``INTRINSIC_GAS_TOO_LOW``, ``INCORRECT_EXCESS_BLOB_GAS``...; ``A|B`` when the
    tests call the same fault either way)."""

    def __init__(self, reason: str, tx_index: int | None = None, rule: str | None = None):
        self.reason = reason
        self.tx_index = tx_index
        self.rule = rule
        where = f"tx {tx_index}: " if tx_index is not None else ""
        super().__init__(f"{where}{reason}")


class FixtureError(Exception):
    """A fixture file is malformed or incomplete; the message says where and why."""
