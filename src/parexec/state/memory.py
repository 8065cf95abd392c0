"""A whole (or partial) state held in Python dicts: the pre-state of a block or a test."""

from __future__ import annotations

import weakref
from dataclasses import replace

from parexec.model import EMPTY_CODE_HASH, Account, WriteSet
from parexec.state.writes import apply_writes


class MemoryState:
    """Accounts, storage and code in dicts.

    ``complete`` says whether this is the entire world state (ethereum/tests) or
    only the part a block touches (mainnet dumps); only a complete state has a
    meaningful state root.
    """

    def __init__(self, complete: bool = True):
        self.accounts: dict[bytes, Account] = {}
        self.slots: dict[bytes, dict[int, int]] = {}
        self.codes: dict[bytes, bytes] = {EMPTY_CODE_HASH: b""}
        self.complete = complete
        # (weakref to the parent state, diff, new code) when made by derive():
        # lets worker processes follow a chain of blocks by diffs.
        self.origin = None

    # StateView
    def account(self, address: bytes) -> Account | None:
        return self.accounts.get(address)

    def storage(self, address: bytes, slot: int) -> int:
        s = self.slots.get(address)
        return s.get(slot, 0) if s else 0

    def code(self, code_hash: bytes) -> bytes:
        try:
            return self.codes[code_hash]
        except KeyError:
            raise KeyError(f"code 0x{code_hash.hex()} is not in the state") from None

    def has_storage(self, address: bytes) -> bool:
        s = self.slots.get(address)
        return bool(s) and any(s.values())

    # building
    def set_account(
        self,
        address: bytes,
        nonce: int = 0,
        balance: int = 0,
        code: bytes = b"",
        storage: dict[int, int] | None = None,
        code_hash: bytes | None = None,
    ) -> None:
        """Add an account; give ``code`` or, when the code is stored separately, ``code_hash``."""
        if code_hash is None:
            code_hash = self.add_code(code)
        self.accounts[address] = Account(nonce, balance, code_hash)
        self.slots[address] = {k: v for k, v in (storage or {}).items() if v}

    def add_code(self, code: bytes) -> bytes:
        from eth_hash.auto import keccak

        h = keccak(code) if code else EMPTY_CODE_HASH
        self.codes[h] = code
        return h

    # mutation through write sets (shared with OverlayState)
    def _put_account(self, address: bytes, account: Account | None) -> None:
        if account is None:
            self.accounts.pop(address, None)
            self.slots.pop(address, None)
        else:
            self.accounts[address] = account

    def _wipe_storage(self, address: bytes) -> None:
        self.slots[address] = {}

    def _put_slot(self, address: bytes, slot: int, value: int) -> None:
        s = self.slots.setdefault(address, {})
        if value:
            s[slot] = value
        else:
            s.pop(slot, None)

    def apply(self, writes: WriteSet, new_code: dict[bytes, bytes] | None = None) -> None:
        apply_writes(self, writes, new_code or {})

    def derive(self, diff: WriteSet, new_code: dict[bytes, bytes]) -> "MemoryState":
        """The state after applying a block's diff; remembers where it came from.

        It shares with this state what the diff leaves alone, so it costs the size
        of the diff, not of the state: writes replace Account objects and never
        change one in place, and the storage of every account the diff names is
        copied before it is written. (Do not change either state's accounts in
        place afterwards; ``copy`` gives an independent state.)"""
        post = MemoryState(self.complete)
        post.accounts = dict(self.accounts)
        post.slots = dict(self.slots)
        for address in {loc[1] for loc in diff}:
            if address in post.slots:
                post.slots[address] = dict(post.slots[address])
        post.codes = dict(self.codes)
        post.apply(diff, new_code)
        post.origin = (weakref.ref(self), diff, new_code)
        return post

    def __getstate__(self):
        state = self.__dict__.copy()
        state["origin"] = None  # weak references do not cross processes
        return state

    def copy(self) -> "MemoryState":
        other = MemoryState(self.complete)
        other.accounts = {a: replace(acc) for a, acc in self.accounts.items()}
        other.slots = {a: dict(s) for a, s in self.slots.items()}
        other.codes = dict(self.codes)
        return other
