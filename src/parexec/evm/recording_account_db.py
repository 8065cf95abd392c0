"""A py-evm AccountDB for one transaction: reads from a StateView, records what it read,
keeps its writes to itself.

py-evm's State takes an ``account_db_class``; this one replaces the trie-backed
AccountDB. It never mutates the view. After the transaction,
``read_set()`` holds every location read from the view with the value seen, and
``write_set()`` the final value of every location the transaction changed
(no-op writes filtered). Warm/cold sets live here and die with the transaction.

Account fields are overlaid one by one, so a transaction that only credits an
account writes its balance and not its nonce or code. An account the transaction
created or deleted is *fresh*: its fields start at the defaults and its storage
is empty, whatever the view says.
"""

from __future__ import annotations

from eth.abc import AccountDatabaseAPI
from eth.db.journal import get_next_checkpoint
from eth_hash.auto import keccak

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
    ReadSet,
    WriteSet,
)
from parexec.state.view import StateView

_MISSING = object()
_DUMMY_ROOT = b"\x00" * 32

# undo-log entry kinds
_CHECKPOINT, _FIELD, _SLOT, _WIPE, _WARM, _CREDIT = range(6)


class RecordingAccountDB(AccountDatabaseAPI):
    def __init__(self, view: StateView, state_root: bytes | None = None) -> None:
        self._view = view
        self._view_accounts: dict = {}
        self.reads: ReadSet = {}
        self._fields: dict = {}  # (kind, address) -> value, kind in NONCE/BALANCE/CODE/EXISTS
        self._slots: dict[bytes, dict[int, int]] = {}
        self._wiped: set[bytes] = set()
        self._new_code: dict[bytes, bytes] = {}
        self._warm: set = set()
        self._journal: list = []
        self._defer = False
        self._credits: dict[bytes, int] = {}  # pending balance changes (signed)
        self._floors: dict[bytes, int] = {}  # proven lower bounds of view balances
        self._assumed: tuple | None = None  # see assume_sufficient_balance

    # ---------------------------------------------------------- fee deltas
    def defer_credits(self, enabled: bool = True) -> None:
        """Credits (fees to the beneficiary, value received by any account) become
        BALANCE_DELTA writes unless the transaction observes the balance (see
        parexec.model)."""
        self._defer = enabled

    def _deferrable(self, address) -> bool:
        """Whether a balance change of ``address`` can stay pending: the balance is
        unobserved and the account is neither new nor absent."""
        key = (BALANCE, address)
        return (
            self._defer
            and key not in self._fields
            and key not in self.reads
            and (EXISTS, address) not in self._fields
            and self._exists(address)
        )

    def credit(self, address, amount: int) -> None:
        if not self._deferrable(address):
            # The balance is known here anyway (or the account is new): exact write.
            self.set_balance(address, self.get_balance(address) + amount)
            return
        self._put_credit(address, self._credits.get(address, 0) + amount)

    def debit(self, address, amount: int) -> None:
        """A debit that a proven balance floor covers stays pending (a negative
        delta); any other debit is an exact read and write."""
        pending = self._credits.get(address, 0)
        if self._deferrable(address) and self._floors.get(address, 0) + pending >= amount:
            self._put_credit(address, pending - amount)
            return
        self.set_balance(address, self.get_balance(address) - amount)

    # -------------------------------------------------------- balance floors
    def balance_at_least(self, address, amount: int) -> bool:
        """Whether the current balance of ``address`` covers ``amount``.

        While the balance is unobserved only this predicate is recorded, as a
        ``BALANCE_FLOOR`` read of the view's balance (see parexec.model), and it
        then covers later debits up to ``amount``.
        """
        if not self._deferrable(address):
            return self.get_balance(address) >= amount
        threshold = amount - self._credits.get(address, 0)
        if threshold <= 0:
            return True
        key = (BALANCE_FLOOR, address, threshold)
        ok = self.reads.get(key)
        if ok is None:
            acc = self._view_account(address)
            ok = self.reads[key] = acc is not None and acc.balance >= threshold
        if ok and threshold > self._floors.get(address, 0):
            self._floors[address] = threshold  # a fact about the view: never undone
        return ok

    def assume_sufficient_balance(self, address, amount: int, once: bool) -> None:
        """py-evm's next balance read(s) of ``address`` only compare it with at most
        ``amount``, which a floor already proves covered: answer them with the
        proven lower bound instead of observing the exact balance. ``once``: only
        the next read (py-evm's check of the top-level call's value, made before
        any code runs). Cleared with ``clear_assumption``."""
        if not self._deferrable(address):
            return  # the exact balance is known anyway
        bound = self._floors.get(address, 0) + self._credits.get(address, 0)
        if bound < amount:
            raise AssertionError(f"balance floor {bound} does not cover {amount}")
        self._assumed = (address, bound, once)

    def clear_assumption(self) -> None:
        self._assumed = None

    def _put_credit(self, address, amount) -> None:
        self._journal.append((_CREDIT, address, self._credits.get(address, _MISSING)))
        if amount is _MISSING:
            self._credits.pop(address, None)
        else:
            self._credits[address] = amount

    def _settle_credit(self, address) -> int:
        """Drop the pending credit of ``address`` and return it."""
        amount = self._credits.get(address, 0)
        if address in self._credits:
            self._put_credit(address, _MISSING)
        return amount

    # ------------------------------------------------------------------ view
    def _view_account(self, address: bytes):
        acc = self._view_accounts.get(address, _MISSING)
        if acc is _MISSING:
            acc = self._view.account(address)
            self._view_accounts[address] = acc
        return acc

    def _read_field(self, kind: str, address: bytes):
        key = (kind, address)
        v = self._fields.get(key, _MISSING)
        if v is not _MISSING:
            return v
        if (EXISTS, address) in self._fields:  # fresh account
            return FIELD_DEFAULT[kind]
        v = self.reads.get(key, _MISSING)
        if v is _MISSING:
            acc = self._view_account(address)
            v = FIELD_DEFAULT[kind] if acc is None else getattr(acc, FIELD_ATTR[kind])
            self.reads[key] = v
        return v

    def _exists(self, address: bytes) -> bool:
        key = (EXISTS, address)
        v = self._fields.get(key, _MISSING)
        if v is not _MISSING:
            return v
        v = self.reads.get(key, _MISSING)
        if v is _MISSING:
            v = self._view_account(address) is not None
            self.reads[key] = v
        return v

    # --------------------------------------------------------------- journal
    def _put_field(self, key: tuple, value) -> None:
        self._journal.append((_FIELD, key, self._fields.get(key, _MISSING)))
        self._fields[key] = value

    def _write_field(self, kind: str, address: bytes, value) -> None:
        if not self._exists(address):
            self._create_fresh(address)
        key = (kind, address)
        # A no-op write is dropped only when the value it repeats was read (and so
        # is validated by parallel strategies); otherwise it is kept.
        if self._read_field_silently(kind, address) == value and (
            key in self._fields or key in self.reads or (EXISTS, address) in self._fields
        ):
            return
        self._put_field(key, value)

    def _read_field_silently(self, kind: str, address: bytes):
        """The current value, without recording a read (for no-op filtering only)."""
        key = (kind, address)
        v = self._fields.get(key, _MISSING)
        if v is not _MISSING:
            return v
        if (EXISTS, address) in self._fields:
            return FIELD_DEFAULT[kind]
        acc = self._view_account(address)
        return FIELD_DEFAULT[kind] if acc is None else getattr(acc, FIELD_ATTR[kind])

    def _create_fresh(self, address: bytes) -> None:
        for kind in FIELD_DEFAULT:
            key = (kind, address)
            if key in self._fields:
                self._put_field_delete(key)
        self._wipe(address)
        self._put_field((EXISTS, address), True)

    def _put_field_delete(self, key: tuple) -> None:
        self._journal.append((_FIELD, key, self._fields.get(key, _MISSING)))
        self._fields.pop(key, None)

    def _wipe(self, address: bytes) -> None:
        self._journal.append(
            (_WIPE, address, self._slots.get(address), address in self._wiped)
        )
        self._slots[address] = {}
        self._wiped.add(address)

    def record(self):
        checkpoint = get_next_checkpoint()
        self._journal.append((_CHECKPOINT, checkpoint))
        return checkpoint

    def discard(self, checkpoint) -> None:
        journal = self._journal
        while journal:
            entry = journal.pop()
            kind = entry[0]
            if kind == _CHECKPOINT:
                if entry[1] == checkpoint:
                    return
            elif kind == _FIELD:
                _, key, old = entry
                if old is _MISSING:
                    self._fields.pop(key, None)
                else:
                    self._fields[key] = old
            elif kind == _SLOT:
                _, address, slot, old = entry
                if old is _MISSING:
                    self._slots[address].pop(slot, None)
                else:
                    self._slots[address][slot] = old
            elif kind == _WIPE:
                _, address, old_slots, was_wiped = entry
                if old_slots is None:
                    self._slots.pop(address, None)
                else:
                    self._slots[address] = old_slots
                if not was_wiped:
                    self._wiped.discard(address)
            elif kind == _CREDIT:
                _, address, old = entry
                if old is _MISSING:
                    self._credits.pop(address, None)
                else:
                    self._credits[address] = old
            else:  # _WARM
                self._warm.discard(entry[1])
        raise ValueError(f"checkpoint {checkpoint} not found in the journal")

    def commit(self, checkpoint) -> None:
        journal = self._journal
        for i in range(len(journal) - 1, -1, -1):
            entry = journal[i]
            if entry[0] == _CHECKPOINT and entry[1] == checkpoint:
                del journal[i]
                return
        raise ValueError(f"checkpoint {checkpoint} not found in the journal")

    def lock_changes(self) -> None:
        """Nothing to do: every transaction gets a fresh RecordingAccountDB."""

    # --------------------------------------------------------------- storage
    def get_storage(self, address, slot: int, from_journal: bool = True) -> int:
        if from_journal:
            slots = self._slots.get(address)
            if slots is not None:
                v = slots.get(slot)
                if v is not None:
                    return v
            if address in self._wiped or (EXISTS, address) in self._fields:
                return 0
        # the value at the start of the transaction, i.e. in the view
        key = (STORAGE, address, slot)
        v = self.reads.get(key, _MISSING)
        if v is _MISSING:
            v = self._view.storage(address, slot)
            self.reads[key] = v
        return v

    def set_storage(self, address, slot: int, value: int) -> None:
        slots = self._slots.get(address)
        if slots is None:
            slots = self._slots[address] = {}
        self._journal.append((_SLOT, address, slot, slots.get(slot, _MISSING)))
        slots[slot] = value

    def delete_storage(self, address) -> None:
        self._wipe(address)

    def _has_storage(self, address: bytes) -> bool:
        slots = self._slots.get(address)
        if slots and any(slots.values()):
            return True
        if address in self._wiped or (EXISTS, address) in self._fields:
            return False
        key = (HAS_STORAGE, address)
        v = self.reads.get(key, _MISSING)
        if v is _MISSING:
            v = self._view.has_storage(address)
            self.reads[key] = v
        return v

    # ------------------------------------------------------- account fields
    def get_balance(self, address) -> int:
        assumed = self._assumed
        if assumed is not None and assumed[0] == address:
            if assumed[2]:
                self._assumed = None
            return assumed[1]
        if address in self._credits:
            # Observing a deferred balance makes it exact: view value + pending changes.
            balance = self._read_field(BALANCE, address) + self._settle_credit(address)
            self._put_field((BALANCE, address), balance)
            return balance
        return self._read_field(BALANCE, address)

    def set_balance(self, address, balance: int) -> None:
        if balance < 0:
            raise ValueError("negative balance")
        if address in self._credits:
            self._settle_credit(address)  # an absolute write supersedes credits
        self._write_field(BALANCE, address, balance)

    def get_nonce(self, address) -> int:
        return self._read_field(NONCE, address)

    def set_nonce(self, address, nonce: int) -> None:
        self._write_field(NONCE, address, nonce)

    def increment_nonce(self, address) -> None:
        self.set_nonce(address, self.get_nonce(address) + 1)

    def get_code_hash(self, address) -> bytes:
        return self._read_field(CODE, address)

    def get_code(self, address) -> bytes:
        code_hash = self._read_field(CODE, address)
        if code_hash == EMPTY_CODE_HASH:
            return b""
        code = self._new_code.get(code_hash)
        if code is None:
            code = self._view.code(code_hash)
        return code

    def set_code(self, address, code: bytes) -> None:
        code_hash = keccak(code) if code else EMPTY_CODE_HASH
        if code:
            self._new_code[code_hash] = code
        self._write_field(CODE, address, code_hash)

    def delete_code(self, address) -> None:
        self._write_field(CODE, address, EMPTY_CODE_HASH)

    # ------------------------------------------------------------- accounts
    def account_has_code_or_nonce(self, address) -> bool:
        """Used by py-evm only for the creation-collision check, so it also applies
        EIP-7610: an address with non-empty storage collides too."""
        return (
            self.get_nonce(address) != 0
            or self.get_code_hash(address) != EMPTY_CODE_HASH
            or self._has_storage(address)
        )

    def delete_account(self, address) -> None:
        self._settle_credit(address)
        for kind in FIELD_DEFAULT:
            key = (kind, address)
            if key in self._fields:
                self._put_field_delete(key)
        self._wipe(address)
        self._put_field((EXISTS, address), False)

    def account_exists(self, address) -> bool:
        return self._exists(address)

    def touch_account(self, address) -> None:
        if not self._exists(address):
            self._create_fresh(address)

    def account_is_empty(self, address) -> bool:
        if self._credits.get(address, 0) > 0:
            return False  # a pending credit proves a non-zero balance
        return (
            self.get_nonce(address) == 0
            and self.get_code_hash(address) == EMPTY_CODE_HASH
            and self.get_balance(address) == 0
        )

    # ----------------------------------------------------------- warm/cold
    def is_address_warm(self, address) -> bool:
        return address in self._warm

    def mark_address_warm(self, address) -> None:
        if address not in self._warm:
            self._warm.add(address)
            self._journal.append((_WARM, address))

    def is_storage_warm(self, address, slot: int) -> bool:
        return (address, slot) in self._warm

    def mark_storage_warm(self, address, slot: int) -> None:
        key = (address, slot)
        if key not in self._warm:
            self._warm.add(key)
            self._journal.append((_WARM, key))

    # ----------------------------------------------- trie API (not used here)
    @property
    def state_root(self):
        return _DUMMY_ROOT

    @state_root.setter
    def state_root(self, value) -> None:
        pass  # py-evm's State.revert() sets it back; there is no trie here

    def has_root(self, state_root: bytes) -> bool:
        return False

    def make_state_root(self):
        raise NotImplementedError("a transaction overlay has no state root")

    def persist(self):
        raise NotImplementedError("a transaction overlay is never persisted")

    # --------------------------------------------------------------- result
    def read_set(self) -> ReadSet:
        return self.reads

    def write_set(self) -> tuple[WriteSet, dict[bytes, bytes]]:
        """The final value of every changed location, and the code they reference."""
        writes: WriteSet = {}
        fields = self._fields
        addresses = {key[1] for key in fields}
        addresses.update(self._slots)
        for address in addresses:
            view_acc = self._view_account(address)
            fresh = fields.get((EXISTS, address), _MISSING)
            if fresh is False:
                if view_acc is not None:
                    writes[(EXISTS, address)] = False
                continue
            wiped = address in self._wiped
            if fresh is True:
                wiped = True
                if view_acc is None:
                    writes[(EXISTS, address)] = True
                for kind, default in FIELD_DEFAULT.items():
                    writes[(kind, address)] = fields.get((kind, address), default)
            else:
                for kind in FIELD_DEFAULT:
                    v = fields.get((kind, address), _MISSING)
                    if v is not _MISSING:
                        if (kind, address) not in self.reads or v != self.reads[(kind, address)]:
                            writes[(kind, address)] = v
            # a reset is needed unless the creation-collision check saw no storage
            if wiped and view_acc is not None and self.reads.get((HAS_STORAGE, address), True):
                writes[(STORAGE_RESET, address)] = True
            for slot, value in self._slots.get(address, {}).items():
                if wiped:
                    if value:
                        writes[(STORAGE, address, slot)] = value
                elif value != self.reads.get((STORAGE, address, slot), _MISSING):
                    writes[(STORAGE, address, slot)] = value
        for address, amount in self._credits.items():
            seen = self.reads.get((BALANCE, address), _MISSING)
            if seen is not _MISSING:
                # observed (in a frame that reverted): keep the promise that an
                # observed balance gets an absolute write
                writes[(BALANCE, address)] = seen + amount
            elif amount:
                writes[(BALANCE_DELTA, address)] = amount
        new_code = {}
        for key, value in writes.items():
            if key[0] == CODE and value != EMPTY_CODE_HASH:
                code = self._new_code.get(value)
                if code is not None:
                    new_code[value] = code
        return writes, new_code
