"""Property: every parallel strategy gives exactly the outcome of serial execution.

Hypothesis generates blocks (8..40 transactions, so OCC and Block-STM really run in
parallel: below 8 they fall back to serial) that mix

* plain ETH transfers (to existing accounts, to new accounts, to the beneficiary,
  to self-destructing contracts, with zero and non-zero value, some running out of gas),
* token transfers on the synthetic workloads' token contract (some revert),
* contract creation by transaction and by CREATE/CREATE2 from a factory (some
  constructors revert, some self-destruct, some deploy self-destructing code;
  repeated CREATE2 salts collide),
* SELFDESTRUCT of pre-existing and freshly created contracts (Cancun: only a
  same-transaction creation is deleted; Shanghai: every self-destruct deletes, and
  CREATE2 can redeploy at a deleted address),
* reverts (a contract that calls the counter, writes, then REVERTs) and nested calls
  (a proxy that CALLs a target given in calldata, with value),
* the beneficiary: transfers and CALL value to it, a contract storing
  ``BALANCE(COINBASE)`` (and its own balance), a contract storing the balance and code
  hash of any account, and transactions sent by the coinbase account itself,
* nonce sequences of one sender, senders funded earlier in the same block, senders
  of their own (independent transactions), and hot storage (a counter every call
  increments),
* existing empty accounts (a touch deletes them, EIP-161), a funded account and a
  storage-only account at CREATE2 target addresses (EIP-7610 collision).

Each block runs serially, and with every other registered strategy at 2 workers
(those that declare no footprints at 3 too); bal also with the block's exact
EIP-7928 list at 2 and 3 workers; the declared-access strategies run
with footprints from pre-execution, and with
hints that are wrong in ways Hypothesis chooses (the exact footprints with
locations left out, and with locations of other transactions added), and bal with
the exact list wrong in one place (rejected as an invalid list, or, with
``--fallback``, run with ``dag``); the
outcomes (receipts, gas, bloom, receipts root, state diff, new code, blob gas, the
state root on some runs, and each transaction's writes) must be identical. When
serial execution rejects a block, every strategy must reject it at the same
transaction with the same reason.

``PAREXEC_HYPOTHESIS_EXAMPLES=N`` runs N examples per property instead of the quick
default (``make conformance`` can set it for a longer run). The examples are the same
on every run; ``PAREXEC_HYPOTHESIS_SEED=S`` draws others, the same for the same S.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.vm.forks import CancunVM, ShanghaiVM
from eth.vm.forks.cancun.constants import (
    BEACON_ROOTS_ADDRESS,
    BEACON_ROOTS_CONTRACT_CODE,
)
from eth_hash.auto import keccak
from evm_helpers import (
    addr,
    address_of,
    as_int,
    asm,
    create2_address,
    create_address,
    initcode,
    key,
    make_block,
    sign_tx,
)
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conftest import prop_settings
from list_helpers import PERTURBATIONS, perturbed
from parexec.access.access_list import GivenLists
from parexec.access.eip7928_builder import build_access_list
from parexec.access.footprint import Footprint
from parexec.block.pipeline import execute_block
from parexec.model import EMPTY_CODE_HASH, BlockRejected, FixtureError
from parexec.parallel import worker_pool
from parexec.state.memory import MemoryState
from parexec.strategies import DECLARED, PARALLEL, get_strategy
from parexec.workloads.contracts import COUNTER_CODE, TOKEN_CODE

# ------------------------------------------------------------------ settings

QUICK_EXAMPLES = 300  # valid and naturally invalid blocks (~0.15 s each)
QUICK_INVALID_EXAMPLES = 100  # blocks with an invalid transaction inserted


PARALLEL_RUNS = [(name, 2) for name in PARALLEL] + [(name, 3) for name in PARALLEL if name not in DECLARED]
MIN_PARALLEL_TXS = 8

# ------------------------------------------------------------------ the world

RICH = 10**20
FUND = 10**12  # what a funding transfer gives a new sender: plenty for a few txs
POOR_BALANCE = 3_000_000  # one or two 21000-gas transactions at max fee 100
SENDER_KEYS = [key(n) for n in (1, 2, 3, 4)]
SENDERS = [address_of(k) for k in SENDER_KEYS]
NEW_KEYS = [key(n) for n in (101, 102, 103)]  # absent until a transfer funds them
NEW_SENDERS = [address_of(k) for k in NEW_KEYS]
POOR_KEY = key(200)
POOR = address_of(POOR_KEY)
CB_KEY = key(0xC0)
COINBASE = address_of(CB_KEY)  # the beneficiary can send transactions too
CB_BALANCE = 10**17

BENEFICIARY = addr(0xBE)  # an existing EOA
NEW_BEN = addr(0xBEEF)  # absent: a self-destruct beneficiary that gets created
TOKEN = addr(0x7001)
COUNTER = addr(0x7002)
FACTORY = addr(0x7003)
REVERTER = addr(0x7004)
PROXY = addr(0x7005)
CB_READER = addr(0x7006)
BAL_READER = addr(0x7007)
SD_CB = addr(0x5D01)  # SELFDESTRUCT(COINBASE)
SD_BEN = addr(0x5D02)  # SELFDESTRUCT(BENEFICIARY)
SD_NEW = addr(0x5D03)  # SELFDESTRUCT(NEW_BEN)
SD_SELF = addr(0x5D04)  # SELFDESTRUCT(itself)
SD_CONTRACTS = [SD_CB, SD_BEN, SD_NEW, SD_SELF]
EMPTY = [addr(0xE0), addr(0xE1)]  # existing empty accounts: a touch deletes them (EIP-161)
UNIQUE_KEYS = [key(1000 + i) for i in range(48)]  # one per position: independent senders

# calldata = salt (32 bytes) | initcode. slot0 = CREATE(initcode) with CALLVALUE as
# endowment; slot1 = CREATE2(initcode, salt).
_INIT_SIZE = (32, "CALLDATASIZE", "SUB")
FACTORY_CODE = asm(
    *_INIT_SIZE, 32, 0, "CALLDATACOPY",
    *_INIT_SIZE, 0, "CALLVALUE", "CREATE", 0, "SSTORE",
    0, "CALLDATALOAD", *_INIT_SIZE, 0, 0, "CREATE2", 1, "SSTORE",
    "STOP",
)
# Calls the counter (its write is discarded, its read is not), writes, reverts.
REVERTER_CODE = asm(
    0, 0, 0, 0, 0, COUNTER, "GAS", "CALL", "POP",
    1, 0, "SSTORE", 0, 0, "REVERT",
)
# calldata = target (32) | value (32): CALL(target, value); storage[target] = success.
PROXY_CODE = asm(
    0, 0, 0, 0, 32, "CALLDATALOAD", 0, "CALLDATALOAD", "GAS", "CALL",
    0, "CALLDATALOAD", "SSTORE", "STOP",
)
# slot0 = BALANCE(COINBASE); slot1 = SELFBALANCE
CB_READER_CODE = asm("COINBASE", "BALANCE", 0, "SSTORE", "SELFBALANCE", 1, "SSTORE", "STOP")
# calldata = target: storage[target] = BALANCE(target); storage[target + 1] = EXTCODEHASH(target)
BAL_READER_CODE = asm(
    0, "CALLDATALOAD", "BALANCE", 0, "CALLDATALOAD", "SSTORE",
    0, "CALLDATALOAD", "EXTCODEHASH", 1, 0, "CALLDATALOAD", "ADD", "SSTORE",
    "STOP",
)

RUNTIME_42 = asm(42, 0, "MSTORE", 32, 0, "RETURN")
INITCODES = [
    initcode(RUNTIME_42, asm(7, 0, "SSTORE")),  # constructor writes slot0, deploys code
    asm(BENEFICIARY, "SELFDESTRUCT"),  # constructor self-destructs (same-tx deletion)
    initcode(asm(COINBASE, "SELFDESTRUCT")),  # deploys code that self-destructs later
    asm(1, 0, "SSTORE", 0, 0, "REVERT"),  # constructor reverts
    initcode(COUNTER_CODE, asm("CALLVALUE", 3, "SSTORE")),  # a second counter
    # constructor writes storage, the code self-destructs later (Shanghai: the storage
    # goes with it, and CREATE2 can redeploy over the address)
    initcode(asm(BENEFICIARY, "SELFDESTRUCT"), asm(7, 0, "SSTORE")),
]
SALTS = [0, 1, 0x1234]


def world(vm) -> MemoryState:
    pre = MemoryState()
    for a in SENDERS:
        pre.set_account(a, balance=RICH)
    pre.set_account(POOR, balance=POOR_BALANCE)
    pre.set_account(COINBASE, balance=CB_BALANCE)
    pre.set_account(BENEFICIARY, balance=50)
    holders = SENDERS + NEW_SENDERS + [COINBASE, POOR]
    pre.set_account(TOKEN, nonce=1, code=TOKEN_CODE, storage={as_int(h): 1000 for h in holders})
    pre.set_account(COUNTER, nonce=1, code=COUNTER_CODE, storage={0: 5})
    pre.set_account(FACTORY, nonce=1, code=FACTORY_CODE)
    pre.set_account(REVERTER, nonce=1, code=REVERTER_CODE, storage={0: 9})
    pre.set_account(PROXY, nonce=1, balance=10**6, code=PROXY_CODE)
    pre.set_account(CB_READER, nonce=1, code=CB_READER_CODE)
    pre.set_account(BAL_READER, nonce=1, code=BAL_READER_CODE)
    for i, (sd, to) in enumerate(zip(SD_CONTRACTS, [COINBASE, BENEFICIARY, NEW_BEN, None])):
        pre.set_account(
            sd, nonce=1, balance=1000 * (i + 1),
            code=asm(to or sd, "SELFDESTRUCT"), storage={0: 1, i + 1: 5},
        )
    for a in EMPTY:
        pre.set_account(a)
    for k in UNIQUE_KEYS:
        pre.set_account(address_of(k), balance=RICH)
    # Where CREATE2 will deploy: a funded account without code (creation keeps the
    # balance), and a storage-only account (EIP-7610: creation collides; it is also
    # EIP-161 empty, so a touch deletes it with its storage).
    pre.set_account(CANDIDATES[0], balance=5)
    pre.set_account(CANDIDATES[len(INITCODES)], storage={3: 1})
    # The EIP-4788 contract, so that Cancun blocks have pre-block system writes.
    pre.set_account(BEACON_ROOTS_ADDRESS, nonce=1, code=BEACON_ROOTS_CONTRACT_CODE)
    return pre


def created_candidates() -> list[bytes]:
    """Addresses contracts may be created at (the generator does not know which will be)."""
    out = [create2_address(FACTORY, salt, init) for salt in SALTS for init in INITCODES]
    out += [create_address(FACTORY, n) for n in range(1, 6)]
    out += [create_address(a, n) for a in SENDERS[:2] for n in range(4)]
    return out


CANDIDATES = created_candidates()
# Recipients of value: existing EOAs and contracts, the beneficiary, absent accounts.
TARGETS = (
    SENDERS + NEW_SENDERS + [POOR, COINBASE, BENEFICIARY, NEW_BEN, TOKEN, COUNTER, PROXY,
                             CB_READER, REVERTER, addr(0xA1), addr(0xA2)]
    + SD_CONTRACTS + EMPTY + CANDIDATES
)

# ------------------------------------------------------------------ operations

KINDS = [
    "transfer", "transfer", "transfer", "token", "token", "counter", "create_tx",
    "factory", "factory", "selfdestruct", "revert", "proxy", "proxy", "cb_read",
    "bal_read", "beacon",
]
SENDER_CHOICES = ["s0", "s1", "s2", "s3", "s0", "s1", "cb", "poor", "new0", "new1", "new2",
                  "u", "u", "u", "u", "u", "u"]  # u: a sender of its own (no nonce chain)
VALUES = [0, 0, 1, 777, FUND]


@dataclass(frozen=True)
class Op:
    kind: str
    sender: str
    target: int  # index into a kind-specific list
    value: int
    extra: int  # gas choice / salt / amount, by kind


ops_strategy = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    sender=st.sampled_from(SENDER_CHOICES),
    target=st.integers(0, 255),
    value=st.sampled_from(VALUES),
    extra=st.integers(0, 7),
)

INVALID_KINDS = ["nonce_gap", "nonce_replay", "too_poor", "poor_overspend", "tip_above_max",
                 "intrinsic_gas", "unfunded_new"]


def _sender_key(choice: str, funded: set[bytes], position: int):
    """The key of an Op's sender; an unfunded new key falls back to a rich sender."""
    if choice == "u":
        return UNIQUE_KEYS[position]
    if choice == "cb":
        return CB_KEY
    if choice == "poor":
        return POOR_KEY
    if choice.startswith("new"):
        k = NEW_KEYS[int(choice[3:])]
        if address_of(k) in funded:
            return k
        return SENDER_KEYS[int(choice[3:]) % len(SENDER_KEYS)]
    return SENDER_KEYS[int(choice[1:])]


def build_txs(vm, ops: list[Op], invalid: tuple[int, str] | None = None):
    """Signed transactions for ``ops``; nonces continue per sender.

    ``invalid = (position, kind)`` puts one invalid transaction before ``ops[position]``.
    Returns (txs, notes) where notes describes each transaction for failure reports.
    """
    nonces: dict[bytes, int] = {}
    funded: set[bytes] = set()
    txs, notes = [], []
    cancun = vm is CancunVM

    def add(k, to, value=0, data=b"", gas=300_000, label="", **kw):
        a = address_of(k)
        n = kw.pop("nonce", None)
        if n is None:
            n = nonces.get(a, 0)
            nonces[a] = n + 1
        txs.append(sign_tx(vm, k, n, to, value=value, data=data, gas=gas, **kw))
        notes.append(f"{len(txs) - 1}: {label} from={a.hex()[:8]} nonce={n} to="
                     f"{to.hex()[:8] if to else 'CREATE'} value={value} gas={gas}")

    for i, op in enumerate(ops):
        if invalid is not None and invalid[0] == i:
            add_invalid(add, nonces, invalid[1])
        kind = op.kind
        # The poor sender only makes small plain transfers: valid until its few wei
        # run out (then serial rejects the block, and so must every strategy).
        k = _sender_key(op.sender if kind == "transfer" or op.sender != "poor" else "s3", funded, i)
        if kind == "beacon" and not cancun:
            kind = "counter"
        if kind == "transfer":
            to = TARGETS[op.target % len(TARGETS)]
            if op.target >= 200:  # a fresh account nobody else touches
                to = keccak(b"fresh" + bytes([op.target, i]))[:20]
            gas = [21_000, 21_000, 60_000, 25_000][op.extra % 4]
            value = op.value % 1000 if k is POOR_KEY else op.value
            if to in NEW_SENDERS and op.extra % 2 == 0 and address_of(k) != POOR:
                value, gas = FUND, 21_000  # fund a new sender for later transactions
                funded.add(to)
            add(k, to, value=value, gas=gas, label="transfer")
        elif kind == "token":
            holders = SENDERS + NEW_SENDERS + [COINBASE, POOR, addr(0xA1)]
            to = holders[op.target % len(holders)]
            amount = [0, 1, 10, 500, 999, 1000, 1001, 5000][op.extra]
            data = to.rjust(32, b"\0") + amount.to_bytes(32, "big")
            add(k, TOKEN, data=data, gas=80_000, label=f"token {amount}->{to.hex()[:8]}")
        elif kind == "counter":
            add(k, COUNTER, value=op.value % 1000, gas=[50_000, 23_000][op.extra % 2],
                label="counter")
        elif kind == "create_tx":
            init = INITCODES[op.target % len(INITCODES)]
            add(k, b"", value=op.value % 10_000, data=init, gas=300_000,
                label=f"create init{op.target % len(INITCODES)}")
        elif kind == "factory":
            init = INITCODES[op.target % len(INITCODES)]
            salt = SALTS[op.extra % len(SALTS)]
            data = salt.to_bytes(32, "big") + init
            add(k, FACTORY, value=op.value % 10_000, data=data, gas=1_000_000,
                label=f"factory init{op.target % len(INITCODES)} salt{salt}")
        elif kind == "selfdestruct":
            pool = SD_CONTRACTS + [c for c in CANDIDATES[: len(SALTS) * len(INITCODES)]]
            to = pool[op.target % len(pool)]
            add(k, to, value=op.value % 10_000, gas=100_000, label="selfdestruct")
        elif kind == "revert":
            add(k, REVERTER, value=op.value % 10_000, gas=200_000, label="revert")
        elif kind == "proxy":
            to = TARGETS[op.target % len(TARGETS)]
            inner = [0, 1, 100, 10**6, 2 * 10**6, 5, 0, 3][op.extra]
            data = to.rjust(32, b"\0") + inner.to_bytes(32, "big")
            add(k, PROXY, value=op.value % 10**7, data=data, gas=300_000,
                label=f"proxy ->{to.hex()[:8]} inner={inner}")
        elif kind == "cb_read":
            add(k, CB_READER, value=op.value % 10_000, gas=100_000, label="cb_read")
        elif kind == "bal_read":
            to = TARGETS[op.target % len(TARGETS)]
            add(k, BAL_READER, data=to.rjust(32, b"\0"), gas=100_000,
                label=f"bal_read {to.hex()[:8]}")
        elif kind == "beacon":
            add(k, BEACON_ROOTS_ADDRESS, data=(1_700_000_000).to_bytes(32, "big"),
                gas=100_000, label="beacon")
        else:  # pragma: no cover
            raise AssertionError(kind)
    if invalid is not None and invalid[0] >= len(ops):
        add_invalid(add, nonces, invalid[1])
    return txs, notes


def add_invalid(add, nonces, kind: str) -> None:
    k = SENDER_KEYS[0]
    a = address_of(k)
    n = nonces.get(a, 0)
    if kind == "nonce_gap":
        add(k, addr(0xA1), value=1, gas=21_000, nonce=n + 1, label="INVALID nonce gap")
    elif kind == "nonce_replay":
        add(k, addr(0xA1), value=1, gas=21_000, nonce=max(n - 1, 0) if n else n + 5,
            label="INVALID nonce replay")
    elif kind == "too_poor":
        add(k, addr(0xA1), value=RICH * 2, gas=21_000, label="INVALID value above balance")
    elif kind == "poor_overspend":
        # more than every funding transfer of a block could have given it
        add(POOR_KEY, addr(0xA1), value=10**15, gas=21_000, label="INVALID poor overspend")
    elif kind == "tip_above_max":
        add(k, addr(0xA1), value=1, gas=21_000, tip=200, label="INVALID tip above max fee")
    elif kind == "intrinsic_gas":
        add(k, addr(0xA1), value=1, gas=20_000, label="INVALID gas below intrinsic")
    elif kind == "unfunded_new":
        add(key(150), addr(0xA1), value=1, gas=21_000, label="INVALID absent sender")
    else:  # pragma: no cover
        raise AssertionError(kind)


# ------------------------------------------------------------------ running

def run(block, pre, name: str, workers: int, with_root: bool, hints=None, fallback: bool = False):
    """(outcome, None) or (None, (tx_index, reason)) if the block is rejected."""
    strategy = get_strategy(name, hints=hints, predict=True, fallback=fallback)
    try:
        return execute_block(block, pre, strategy, workers, with_root), None
    except BlockRejected as exc:
        return None, (exc.tx_index, exc.reason)


FIELDS = ("receipts", "gas_used", "logs_bloom", "receipts_root", "state_diff",
          "new_code", "blob_gas_used")


def differences(serial, other, with_root: bool, pre=None) -> list[str]:
    """The fields in which ``other`` differs from ``serial``, with the first difference.
    ``pre``: compare what the transactions leave, one after another on ``pre``,
    with an empty account and none alike, instead of their writes (see check_block)."""
    out = []
    for name in FIELDS:
        a, b = getattr(serial, name), getattr(other, name)
        if a == b:
            continue
        if name == "receipts":
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            detail = f"first at tx {i}: serial {a[i] if i < len(a) else None} " \
                     f"vs {b[i] if i < len(b) else None}"
        elif name == "state_diff":
            keys = sorted({*a, *b}, key=repr)
            bad = [(k, a.get(k, "<absent>"), b.get(k, "<absent>")) for k in keys
                   if a.get(k, "<absent>") != b.get(k, "<absent>")]
            detail = "; ".join(f"{k[0]} {k[1].hex()} {k[2:]}: serial {x} vs {y}"
                               for k, x, y in bad[:6])
        else:
            detail = f"serial {a!r} vs {b!r}"
        out.append(f"{name} differs ({detail})")
    if with_root and serial.state_root != other.state_root:
        out.append(f"state_root differs: serial {serial.state_root.hex()} "
                   f"vs {other.state_root.hex()}")
    if pre is not None:
        written = [loc for r in serial.tx_results + other.tx_results for loc in r.writes]
        a, b = (states_after_each(pre, results, written) for results in (serial.tx_results, other.tx_results))
    else:
        a = [(r.index, r.writes, r.gas_used, r.success) for r in serial.tx_results]
        b = [(r.index, r.writes, r.gas_used, r.success) for r in other.tx_results]
    if a != b:
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        detail = ""
        if i < min(len(a), len(b)):
            x, y = a[i][1], b[i][1]
            detail = "; ".join(f"{k[0]} {k[1].hex()} {k[2:]}: serial {x.get(k, '<absent>')} vs {y.get(k, '<absent>')}"
                               for k in sorted({*x, *y}, key=repr) if x.get(k, "<absent>") != y.get(k, "<absent>"))
            detail = f" ({detail or 'gas or success'})"
        out.append(f"tx_results differ first at tx {i}{detail}")
    return out


def states_after_each(pre, results, written) -> list[tuple]:
    """(index, what the state holds after it, gas, success) for each result applied
    in order on ``pre``: every account and slot of ``written`` (locations), an
    account that does not exist as an empty one (alike since EIP-161)."""
    from parexec.state.overlay import OverlayState

    state = OverlayState(pre)
    addresses = {loc[1] for loc in written}
    slots = {(loc[1], loc[2]) for loc in written if loc[0] == "storage"}
    out = []
    for r in results:
        state.apply(r.writes, r.new_code)
        held = {}
        for address in addresses:
            acc = state.account(address)
            held[("account", address)] = (0, 0, EMPTY_CODE_HASH) if acc is None else (acc.balance, acc.nonce,
                                                                                   acc.code_hash)
        held.update({("storage", a, slot): state.storage(a, slot) for a, slot in slots})
        out.append((r.index, held, r.gas_used, r.success))
    return out


def parallel_runs():
    """PARALLEL_RUNS, those with the pool's current size first (fewer process spawns)."""
    pool = worker_pool._POOL
    current = len(pool.workers) + 1 if pool is not None else 2
    return sorted(PARALLEL_RUNS, key=lambda run: run[1] != current)


class WrongHints:
    """Each transaction's exact footprint, with locations dropped and others' added."""

    def __init__(self, serial, rng, drop: float, add: int):
        exact = [Footprint.of_result(r) for r in serial.tx_results]
        everything = sorted({loc for fp in exact for loc in fp.reads | fp.writes}, key=repr)
        self.footprints = []
        for fp in exact:
            reads = {loc for loc in fp.reads if rng.random() >= drop}
            writes = {loc for loc in fp.writes if rng.random() >= drop}
            for loc in rng.sample(everything, min(add, len(everything))):
                (writes if rng.random() < 0.5 else reads).add(loc)
            self.footprints.append(Footprint(frozenset(reads), frozenset(writes), fp.sender))

    def footprints_for(self, block):
        return self.footprints


def check_block(vm, txs, notes, expect_rejection: bool | None = None, hint_rng=None):
    pre = world(vm)
    block = make_block(vm, txs, COINBASE)
    serial, serial_rejected = run(block, pre, "serial", 1, True)
    summary = f"fork {vm.__name__}, {len(txs)} txs; serial: " + (
        f"rejected {serial_rejected}" if serial_rejected else
        f"gas {serial.gas_used}, {sum(not r.success for r in serial.receipts)} failed")
    _event(f"{vm.__name__}: " + ("rejected" if serial_rejected else "valid"))
    if expect_rejection is not None:
        assert (serial_rejected is not None) == expect_rejection, serial_rejected
    failures = []
    for name, workers in parallel_runs():
        with_root = workers == 3
        outcome, rejected = run(block, pre, name, workers, with_root)
        where = f"{name} workers={workers}"
        if serial_rejected is not None or rejected is not None:
            if rejected != serial_rejected:
                failures.append(f"{where}: rejection {rejected} vs serial {serial_rejected}")
            continue
        assert outcome.stats.mode == "parallel", (where, outcome.stats)
        _events(where, outcome.stats)
        failures += [f"{where}: {d}" for d in differences(serial, outcome, with_root)]
    if serial_rejected is None:  # bal with the block's exact EIP-7928 list (a block serial rejects has none)
        # An empty account deleted by a touch (EIP-161), or one created and destroyed in
        # one transaction, leaves no value a list holds that says it is gone: bal's
        # transactions after that one see an empty account still there, and write to
        # it as to an account (a credit, a deletion) where serially they create it or
        # write nothing. Since EIP-161 an empty account and none are alike to every
        # execution but EIP-7610's question whether it holds storage (which bal
        # answers by learning the deletion from the result that made it), so the
        # block's outcome is the same (checked in full), and so is what each
        # transaction leaves, with an empty account and none alike.
        exact_list = build_access_list(block, pre)
        for workers in (2, 3):
            outcome, rejected = run(block, pre, "bal", workers, workers == 3, GivenLists(eip7928=exact_list))
            where = f"bal workers={workers} with the exact EIP-7928 list"
            if rejected is not None:
                failures.append(f"{where}: rejected {rejected}, serial accepted")
                continue
            assert outcome.stats.hints == "eip7928 list", (where, outcome.stats)
            failures += [f"{where}: {d}" for d in differences(serial, outcome, workers == 3, pre)]
    if hint_rng is not None and serial_rejected is None:  # bal with a list that is wrong in one place
        kind, pick = hint_rng.choice(PERTURBATIONS), hint_rng.randrange(1000)
        wrong = GivenLists(eip7928=perturbed(exact_list, kind, pick))
        where = f"bal workers=2 with a wrong list ({kind}, pick {pick})"
        try:
            outcome, rejected = run(block, pre, "bal", 2, False, wrong)
            _event(f"bal, a wrong list ({kind}): " + ("accepted" if rejected is None else "rejected"))
            if rejected is None and wrong.eip7928 != exact_list:  # held in full, only the block's own list passes
                failures.append(f"{where}: accepted a list that is not the block's")
            elif rejected is None:  # the perturbation found nothing to change
                failures += [f"{where}: {d}" for d in differences(serial, outcome, False, pre)]
            elif "invalid access list" not in rejected[1]:
                failures.append(f"{where}: rejected {rejected}, not as an invalid list")
            fallen_back, rejected = run(block, pre, "bal", 2, False, wrong, fallback=True)
            if rejected is not None:
                failures.append(f"{where}, --fallback: rejected {rejected}, serial accepted")
            else:
                failures += [f"{where}, --fallback: {d}" for d in differences(serial, fallen_back, False, pre)]
        except FixtureError as exc:  # an index past the block's: the list breaks a rule of its encoding
            _event(f"bal, a wrong list ({kind}): not a valid list")
            if "not a valid EIP-7928 list" not in str(exc):
                failures.append(f"{where}: {exc}")
    if hint_rng is not None and serial_rejected is None:
        drop, add = hint_rng.choice([0.0, 0.3, 1.0]), hint_rng.choice([0, 2])
        hints = WrongHints(serial, hint_rng, drop, add)
        for name in DECLARED:
            outcome, rejected = run(block, pre, name, 2, False, hints)
            where = f"{name} workers=2 hints (drop {drop:.0%}, add {add})"
            if rejected is not None:
                failures.append(f"{where}: rejected {rejected}, serial accepted")
                continue
            if outcome.stats.mispredictions:
                _event(f"{name}: wrong hints mispredicted")
            failures += [f"{where}: {d}" for d in differences(serial, outcome, False)]
    if failures:
        raise AssertionError("\n".join(["parallel differs from serial:", *failures, summary,
                                        "block:", *notes]))
    return serial_rejected


def _event(text: str) -> None:
    try:
        event(text)
    except InvalidArgument:  # outside a Hypothesis test (the fixed cases)
        pass


def _events(where: str, stats) -> None:
    """Statistics (pytest --hypothesis-show-statistics): did speculation really happen?"""
    _event(f"{where}: speculative results accepted" if stats.speculative_accepted
           else f"{where}: no speculative result accepted")
    if stats.reexecutions:
        _event(f"{where}: some re-executions")
    if stats.gave_up:
        _event(f"{where}: gave up speculating")


blocks = st.tuples(
    st.sampled_from([CancunVM, ShanghaiVM]),
    st.lists(ops_strategy, min_size=MIN_PARALLEL_TXS, max_size=40),
)


@prop_settings(QUICK_EXAMPLES)
@given(blocks, st.randoms(use_true_random=False))
def test_parallel_strategies_equal_serial(case, hint_rng):
    vm, ops = case
    txs, notes = build_txs(vm, ops)
    check_block(vm, txs, notes, hint_rng=hint_rng)


@prop_settings(QUICK_INVALID_EXAMPLES)
@given(
    blocks,
    st.integers(2, 40),  # some valid transactions first, and speculation beyond
    st.sampled_from(INVALID_KINDS),
)
def test_invalid_transaction_is_rejected_like_serial(case, position, kind):
    vm, ops = case
    position = min(position, len(ops))
    txs, notes = build_txs(vm, ops, (position, kind))
    rejected = check_block(vm, txs, notes, expect_rejection=True)
    assert rejected[0] <= position  # an earlier (generated) transaction may already be invalid


# ------------------------------------------------------------------ fixed cases

def test_generator_covers_what_it_claims():
    """A fixed block exercising each kind once, on both forks, checked the same way
    (and a guard that the world's contracts do what the property relies on)."""
    ops = [Op(kind, s, t, v, e) for kind, s, t, v, e in [
        ("transfer", "s0", SENDERS.index(SENDERS[0]) + 4, FUND, 0),  # funds new0
        ("transfer", "new0", 205, 5, 0),  # the new sender sends to a fresh account
        ("transfer", "s1", TARGETS.index(COINBASE), 777, 0),
        ("token", "s0", 1, 0, 3),
        ("token", "s2", 1, 0, 7),  # above its balance: reverts
        ("counter", "s0", 0, 0, 0),
        ("counter", "s1", 0, 0, 0),
        ("create_tx", "s2", 0, 0, 0),
        ("create_tx", "s3", 1, 5, 0),  # constructor self-destructs
        ("factory", "s0", 2, 0, 0),  # deploys self-destructing code with CREATE2
        ("selfdestruct", "s1", 4 + 2, 0, 0),  # calls it (CANDIDATES[2]: salt 0, init 2)
        ("factory", "s2", 2, 0, 0),  # CREATE2 again (Shanghai: redeploys; Cancun: collides)
        ("selfdestruct", "s3", 0, 0, 0),  # pre-existing, to the coinbase
        ("revert", "s0", 0, 777, 0),
        ("proxy", "s1", TARGETS.index(COINBASE), 0, 2),  # value to the coinbase via CALL
        ("proxy", "s2", TARGETS.index(REVERTER), 0, 0),
        ("cb_read", "s3", 0, 1, 0),
        ("cb_read", "cb", 0, 0, 0),  # sent by the coinbase itself
        ("bal_read", "s0", TARGETS.index(COINBASE), 0, 0),
        ("beacon", "s1", 0, 0, 0),
        ("transfer", "cb", TARGETS.index(BENEFICIARY), 1, 0),
        ("transfer", "poor", TARGETS.index(BENEFICIARY), 1, 0),
    ]]
    for vm in (CancunVM, ShanghaiVM):
        txs, notes = build_txs(vm, ops)
        assert check_block(vm, txs, notes) is None
        serial = execute_block(make_block(vm, txs, COINBASE), world(vm), get_strategy("serial"))
        success = [r.success for r in serial.receipts]
        assert success[4] is False and success[13] is False  # token overdraft, revert
        assert success.count(False) == 2, list(enumerate(success))
        d = serial.state_diff
        sd_child = CANDIDATES[2]
        assert d[("exists", sd_child)] is True
        # a contract created in an earlier tx survives its SELFDESTRUCT on Cancun only:
        # there the second CREATE2 collides, on Shanghai it redeploys at the same address
        assert (sd_child in serial.tx_results[11].created) == (vm is ShanghaiVM)
        assert (sd_child in serial.tx_results[10].destroyed) == (vm is ShanghaiVM)
        if vm is ShanghaiVM:
            assert d[("exists", SD_CB)] is False
        else:
            assert ("exists", SD_CB) not in d and d[("balance", SD_CB)] == 0


def test_bal_sees_an_account_destroyed_earlier_in_the_block_as_gone():
    """Before Cancun, tx 6 destroys a pre-existing contract and tx 7 calls it again:
    serially it is gone. Its exact list can only show the contract's code gone and
    its nonce back to 0 at tx 6, and bal reads that as the account deleted (it had
    executed tx 7 on an empty account still there: the same block outcome, other
    writes; found by the property above)."""
    ops = [Op("transfer", "s0", 0, 0, 0)] * 6 + [Op("selfdestruct", "s0", 157, 0, 0)] * 2
    txs, notes = build_txs(ShanghaiVM, ops)
    assert check_block(ShanghaiVM, txs, notes) is None
    pre, block = world(ShanghaiVM), make_block(ShanghaiVM, txs, COINBASE)
    serial, _ = run(block, pre, "serial", 1, False)
    bal, _ = run(block, pre, "bal", 2, False, GivenLists(eip7928=build_access_list(block, pre)))
    assert [r.writes for r in bal.tx_results] == [r.writes for r in serial.tx_results]  # the same, to the letter


def test_bal_learns_a_deletion_its_list_cannot_show():
    """Tx 6 touches an empty account that holds storage (EIP-161 deletes it, storage
    and all: no value of the list says so); tx 7 deploys there with CREATE2. Serially
    the deployment succeeds; on the list's view the storage is still there and it
    collides (EIP-7610). bal learns the deletion from tx 6's result and executes tx 7
    once more on a view that has it (it had rejected the exact list; found by the
    property above, 1,500 examples)."""
    storage_only = CANDIDATES[len(INITCODES)]
    ops = [Op("transfer", "s0", 0, 0, 0)] * 6 + [
        Op("proxy", "s0", TARGETS.index(storage_only), 0, 0), Op("factory", "cb", 36, 0, 1)]
    txs, notes = build_txs(ShanghaiVM, ops)
    assert check_block(ShanghaiVM, txs, notes) is None  # bal at 2 and 3 workers among the rest
    pre, block = world(ShanghaiVM), make_block(ShanghaiVM, txs, COINBASE)
    serial, _ = run(block, pre, "serial", 1, False)
    assert storage_only in serial.tx_results[6].destroyed and storage_only in serial.tx_results[7].created
    exact = GivenLists(eip7928=build_access_list(block, pre))
    for workers in (1, 2):
        bal, rejected = run(block, pre, "bal", workers, False, exact)
        assert rejected is None, (workers, rejected)
        assert [r.writes for r in bal.tx_results] == [r.writes for r in serial.tx_results], workers
        if workers == 1:  # every transaction executed before any is committed: tx 7 once more
            assert bal.stats.reexecutions == 1
        else:  # once where tx 7 ran before the deletion was learned, none where the coordinator ran it
            assert bal.stats.reexecutions <= 1  # after (its worker slow: 4 runs of 16 beside two busy loops)
