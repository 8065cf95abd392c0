"""Pending changes of a block on top of a read-only base state."""

from __future__ import annotations

from parexec.model import (
    BALANCE,
    CODE,
    EXISTS,
    NONCE,
    STORAGE,
    STORAGE_RESET,
    Account,
    WriteSet,
)
from parexec.state.memory import MemoryState
from parexec.state.view import StateView
from parexec.state.writes import apply_writes

_MISSING = object()


class OverlayState:
    """A StateView that layers committed transactions' writes over ``base``.

    The base is never mutated. ``diff()`` gives the block's canonical state diff:
    it depends only on the base and the final state (plus which accounts had
    their storage wiped), so every strategy that reaches the same state produces
    the same diff.
    """

    def __init__(self, base: StateView):
        self.base = base
        self.accounts: dict[bytes, Account | None] = {}
        self.slots: dict[bytes, dict[int, int]] = {}
        self.wiped: set[bytes] = set()
        self.codes: dict[bytes, bytes] = {}

    # StateView
    def account(self, address: bytes) -> Account | None:
        acc = self.accounts.get(address, _MISSING)
        if acc is _MISSING:
            return self.base.account(address)
        return acc

    def storage(self, address: bytes, slot: int) -> int:
        s = self.slots.get(address)
        if s is not None:
            v = s.get(slot)
            if v is not None:
                return v
        if address in self.wiped:
            return 0
        return self.base.storage(address, slot)

    def code(self, code_hash: bytes) -> bytes:
        c = self.codes.get(code_hash)
        if c is None:
            return self.base.code(code_hash)
        return c

    def has_storage(self, address: bytes) -> bool:
        s = self.slots.get(address, {})
        if any(s.values()):
            return True
        if address in self.wiped:
            return False
        # The base may have non-zero slots that were all zeroed here.
        if not self.base.has_storage(address):
            return False
        if not s:
            return True
        return _base_has_slot_outside(self.base, address, s)

    # write-set application (see parexec.state.writes)
    def _put_account(self, address: bytes, account: Account | None) -> None:
        self.accounts[address] = account

    def _wipe_storage(self, address: bytes) -> None:
        self.wiped.add(address)
        self.slots[address] = {}

    def _put_slot(self, address: bytes, slot: int, value: int) -> None:
        self.slots.setdefault(address, {})[slot] = value

    def apply(self, writes: WriteSet, new_code: dict[bytes, bytes] | None = None) -> None:
        apply_writes(self, writes, new_code or {})

    def absorb(self, staged: "OverlayState") -> None:
        """Take in every change of ``staged``, an overlay on this one that is then
        dropped: its dicts are merged (no location is applied again), so changes
        staged while other work ran cost little once they are wanted."""
        if staged.base is not self:
            raise ValueError("absorb takes an overlay on this state")
        for address in staged.wiped:
            self._wipe_storage(address)
        self.accounts.update(staged.accounts)
        for address, slots in staged.slots.items():
            mine = self.slots.get(address)
            if mine is None:
                self.slots[address] = slots
            else:
                mine.update(slots)
        self.codes.update(staged.codes)

    def copy(self) -> "OverlayState":
        """An independent overlay on the same base holding the same writes (as its diff)."""
        other = OverlayState(self.base)
        other.apply(self.diff(), self.new_code())
        return other

    def diff(self) -> WriteSet:
        """Every location whose final value differs from the base, canonically."""
        out: WriteSet = {}
        for address, acc in self.accounts.items():
            before = self.base.account(address)
            if acc is None:
                if before is not None:
                    out[(EXISTS, address)] = False
                continue
            if before is None:
                out[(EXISTS, address)] = True
                before = Account()
            if acc.nonce != before.nonce:
                out[(NONCE, address)] = acc.nonce
            if acc.balance != before.balance:
                out[(BALANCE, address)] = acc.balance
            if acc.code_hash != before.code_hash:
                out[(CODE, address)] = acc.code_hash
        for address, slots in self.slots.items():
            if self.account(address) is None:
                continue
            reset = address in self.wiped and self.base.has_storage(address)
            if reset:
                out[(STORAGE_RESET, address)] = True
            for slot, value in slots.items():
                before = 0 if address in self.wiped else self.base.storage(address, slot)
                if value != before or (reset and value):
                    out[(STORAGE, address, slot)] = value
        return out

    def new_code(self) -> dict[bytes, bytes]:
        return dict(self.codes)


def _base_has_slot_outside(base, address: bytes, zeroed: dict[int, int]) -> bool:
    """True if the base has a non-zero slot of ``address`` not zeroed in ``zeroed``."""
    if isinstance(base, MemoryState):
        return any(v for k, v in base.slots.get(address, {}).items() if k not in zeroed)
    if hasattr(base, "nonzero_slots"):  # a store's state (parexec.state.store_state)
        return any(k not in zeroed for k in base.nonzero_slots(address))
    # Unknown base layout: be conservative (the account had storage).
    return True
