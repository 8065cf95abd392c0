"""Multi-version memory: every transaction's writes, kept per location and ordered
by transaction index, so that transaction j reads what the last writer below j wrote.

Block-STM's central structure. One instance lives in the coordinator (the truth
about versions) and one replica in each worker process, fed by write-set
messages. A location holds, per writer index, either a value, a balance
``Delta`` (fee deltas), or ``ESTIMATE`` (the writer was aborted and is being
re-executed: a reader must wait for it instead of running on stale data).

Account deletion is expanded on recording into explicit field resets and a
storage reset, so a read never has to look at more than its own location (plus,
for a storage slot, the account's storage-reset location).
"""

from __future__ import annotations

from bisect import bisect_left, insort

from parexec.model import (
    FIELD_ATTR,
    FIELD_DEFAULT,
    BALANCE,
    BALANCE_DELTA,
    BALANCE_FLOOR,
    CODE,
    EMPTY_CODE_HASH,
    EXISTS,
    HAS_STORAGE,
    NONCE,
    STORAGE,
    STORAGE_RESET,
    WriteSet,
)
from parexec.state.view import ReadNotReady


class Estimate:
    """Marker of an aborted writer's locations."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ESTIMATE"


ESTIMATE = Estimate()


class Delta:
    """A balance change (a credit, or a covered debit) that adds to whatever lies below it."""

    __slots__ = ("amount",)

    def __init__(self, amount: int):
        self.amount = amount

    def __eq__(self, other) -> bool:
        return isinstance(other, Delta) and other.amount == self.amount

    def __repr__(self) -> str:
        return f"Delta({self.amount})"


class ReadEstimate(ReadNotReady):
    """Transaction ``blocking`` is being re-executed; the reader must wait for it."""

    def __init__(self, blocking: int):
        super().__init__(blocking)
        self.blocking = blocking




def expand_writes(writes: WriteSet) -> dict:
    """Write set -> MV entries: deletions become explicit resets, credits Deltas."""
    out: dict = {}
    for loc, value in writes.items():
        kind = loc[0]
        if kind == BALANCE_DELTA:
            out[(BALANCE, loc[1])] = Delta(value)
        elif kind == EXISTS and not value:
            a = loc[1]
            out[loc] = False
            out[(NONCE, a)] = 0
            out[(BALANCE, a)] = 0
            out[(CODE, a)] = EMPTY_CODE_HASH
            out[(STORAGE_RESET, a)] = True
        else:
            out[loc] = value
    return out


class MVMemory:
    def __init__(self, base):
        self.base = base  # StateView of the block's pre-state (after system writes)
        self.data: dict[tuple, dict[int, object]] = {}
        self.order: dict[tuple, list[int]] = {}  # writer indices per location, sorted
        self.by_tx: dict[int, dict] = {}  # last recorded entries of each writer
        self.slots_of: dict[bytes, set[int]] = {}  # slots written per address
        # addresses with an entry for a field of the account (existence, nonce,
        # balance, code), ever in this block: any other account reads as the base's
        self.accounts_written: set[bytes] = set()
        self.codes: dict[bytes, bytes] = {}
        # per balance location, the running balance at each writer (see _balance_run):
        # a hot sender's every payout is a Delta, so summing them anew on each read
        # would cost O(writers)
        self._balance_runs: dict[tuple, list] = {}

    # ------------------------------------------------------------ writers
    def record(self, tx: int, writes: WriteSet, new_code: dict[bytes, bytes]) -> set:
        """Replace tx's entries with ``writes``; return the locations whose entry changed."""
        entries = expand_writes(writes)
        if new_code:
            self.codes.update(new_code)
        old = self.by_tx.get(tx, {})
        changed = set()
        for loc in old:
            if loc not in entries:
                self._remove(loc, tx)
                changed.add(loc)
        for loc, value in entries.items():
            slot = self.data.get(loc)
            if slot is None:
                slot = self.data[loc] = {}
                self.order[loc] = []
            if tx not in slot:
                insort(self.order[loc], tx)
                changed.add(loc)
            elif slot[tx] is ESTIMATE or slot[tx] != value:
                changed.add(loc)
            slot[tx] = value
            kind = loc[0]
            if kind == STORAGE:
                self.slots_of.setdefault(loc[1], set()).add(loc[2])
            elif kind != STORAGE_RESET:
                self.accounts_written.add(loc[1])
                if kind == BALANCE:
                    self._forget_balance_run(loc, tx)
        self.by_tx[tx] = entries
        return changed

    def mark_estimate(self, tx: int) -> None:
        for loc in self.by_tx.get(tx, ()):
            self.data[loc][tx] = ESTIMATE
            if loc[0] == BALANCE:
                self._forget_balance_run(loc, tx)

    def _remove(self, loc, tx: int) -> None:
        if loc[0] == BALANCE:
            self._forget_balance_run(loc, tx)
        del self.data[loc][tx]
        order = self.order[loc]
        del order[bisect_left(order, tx)]

    # ------------------------------------------------------------ readers
    def _latest(self, loc, tx: int):
        """(writer, entry) of the last writer of ``loc`` below ``tx``, or (None, None)."""
        order = self.order.get(loc)
        if not order:
            return None, None
        i = bisect_left(order, tx)
        if i == 0:
            return None, None
        writer = order[i - 1]
        entry = self.data[loc][writer]
        if entry is ESTIMATE:
            raise ReadEstimate(writer)
        return writer, entry

    def exists(self, address: bytes, tx: int) -> bool:
        _, entry = self._latest((EXISTS, address), tx)
        if entry is not None:
            return entry
        return self.base.account(address) is not None

    def field(self, kind: str, address: bytes, tx: int):
        loc = (kind, address)
        if kind != BALANCE:
            _, entry = self._latest(loc, tx)
            if entry is not None:
                return entry
            acc = self.base.account(address)
            return FIELD_DEFAULT[kind] if acc is None else getattr(acc, FIELD_ATTR[kind])
        # balance: the last absolute value (or the base), plus the Deltas above it
        order = self.order.get(loc)
        i = bisect_left(order, tx) if order else 0
        if i:
            absolute, delta, estimate = self._balance_run(loc, i)
            if estimate is not None:
                raise ReadEstimate(estimate)
            if absolute is not None:
                return absolute + delta
        else:
            delta = 0
        acc = self.base.account(address)
        return (0 if acc is None else acc.balance) + delta

    def _balance_run(self, loc, i: int) -> tuple:
        """For the i-th writer of a balance (from 1, in order): the last absolute value
        at or below it (None: the base), the sum of Deltas since, and the highest
        ESTIMATE writer since (or None). The runs are a cached prefix, cut back
        where an entry changes and extended only as far as a read needs: a hot
        account's readers near the front stay cheap however often the back writes."""
        run = self._balance_runs.setdefault(loc, [])
        if len(run) < i:
            absolute, delta, estimate = run[-1] if run else (None, 0, None)
            data = self.data[loc]
            for writer in self.order[loc][len(run):i]:
                entry = data[writer]
                if entry is ESTIMATE:
                    estimate = writer
                elif isinstance(entry, Delta):
                    delta += entry.amount
                else:
                    absolute, delta, estimate = entry, 0, None
                run.append((absolute, delta, estimate))
        return run[i - 1]

    def _forget_balance_run(self, loc, tx: int) -> None:
        """tx's entry at ``loc`` changes: the run from its place on is stale."""
        run = self._balance_runs.get(loc)
        if run:
            del run[bisect_left(self.order[loc], tx):]

    def storage(self, address: bytes, slot: int, tx: int) -> int:
        writer, entry = self._latest((STORAGE, address, slot), tx)
        reset, _ = self._latest((STORAGE_RESET, address), tx)
        if reset is not None and (writer is None or reset > writer):
            return 0
        if writer is not None:
            return entry
        return self.base.storage(address, slot)

    def has_storage(self, address: bytes, tx: int) -> bool:
        for slot in self.slots_of.get(address, ()):
            if self.storage(address, slot, tx):
                return True
        reset, _ = self._latest((STORAGE_RESET, address), tx)
        if reset is not None:
            return False
        if not self.base.has_storage(address):
            return False
        # The base has storage: true unless every non-zero base slot was zeroed here.
        written = self.slots_of.get(address, set())
        base_slots = _known_slots(self.base, address)
        if base_slots is None:
            return True
        return any(v and s not in written for s, v in base_slots.items())

    def value(self, loc, tx: int):
        """What a read of ``loc`` by ``tx`` sees now (the RecordingAccountDB's read semantics)."""
        kind = loc[0]
        if kind == STORAGE:
            return self.storage(loc[1], loc[2], tx)
        if kind == EXISTS:
            return self.exists(loc[1], tx)
        if kind == HAS_STORAGE:
            return self.has_storage(loc[1], tx)
        if not self.exists(loc[1], tx):
            return False if kind == BALANCE_FLOOR else FIELD_DEFAULT[kind]
        if kind == BALANCE_FLOOR:
            return self.field(BALANCE, loc[1], tx) >= loc[2]
        return self.field(kind, loc[1], tx)

    def code(self, code_hash: bytes) -> bytes:
        code = self.codes.get(code_hash)
        return self.base.code(code_hash) if code is None else code

    def view(self, tx: int) -> "MVView":
        return MVView(self, tx)




def _known_slots(view, address: bytes):
    """The non-zero slots of ``address`` in a MemoryState-like base, or None if unknown."""
    from parexec.state.memory import MemoryState
    from parexec.state.overlay import OverlayState

    if isinstance(view, MemoryState):
        return view.slots.get(address, {})
    if isinstance(view, OverlayState):
        below = _known_slots(view.base, address)
        if below is None:
            return None
        merged = {} if address in view.wiped else dict(below)
        merged.update(view.slots.get(address, {}))
        return merged
    return None


class LazyAccount:
    """An account as seen by tx ``tx``: each field is looked up when first read, so a
    transaction that never reads the beneficiary's balance never waits on its credits."""

    __slots__ = ("_mv", "_address", "_tx", "_cache")

    def __init__(self, mv: MVMemory, address: bytes, tx: int):
        self._mv, self._address, self._tx, self._cache = mv, address, tx, {}

    def _get(self, kind):
        v = self._cache.get(kind)
        if v is None:
            v = self._cache[kind] = self._mv.field(kind, self._address, self._tx)
        return v

    @property
    def nonce(self) -> int:
        return self._get(NONCE)

    @property
    def balance(self) -> int:
        return self._get(BALANCE)

    @property
    def code_hash(self) -> bytes:
        return self._get(CODE)


class MVView:
    """The StateView transaction ``tx`` executes on: MV memory below ``tx`` over the base."""

    __slots__ = ("mv", "tx")

    def __init__(self, mv: MVMemory, tx: int):
        self.mv, self.tx = mv, tx

    def account(self, address: bytes):
        mv = self.mv
        if address not in mv.accounts_written:  # most of a block's reads: no field of it written
            return mv.base.account(address)
        if not mv.exists(address, self.tx):
            return None
        return LazyAccount(mv, address, self.tx)

    def storage(self, address: bytes, slot: int) -> int:
        return self.mv.storage(address, slot, self.tx)

    def code(self, code_hash: bytes) -> bytes:
        return self.mv.code(code_hash)

    def has_storage(self, address: bytes) -> bool:
        return self.mv.has_storage(address, self.tx)
