"""Applying a write set to a state store, and deriving the canonical diff of two states."""

from __future__ import annotations

from parexec.model import (
    BALANCE,
    BALANCE_DELTA,
    CODE,
    EXISTS,
    NONCE,
    STORAGE,
    STORAGE_RESET,
    Account,
    WriteSet,
)

_FIELD = {BALANCE: "balance", NONCE: "nonce", CODE: "code_hash"}


def apply_writes(store, writes: WriteSet, new_code: dict[bytes, bytes]) -> None:
    """Apply ``writes`` to ``store`` (MemoryState or OverlayState).

    Deletions and storage wipes go first, then creations, then fields and slots,
    so the result does not depend on the order of the dict.
    """
    if new_code:
        store.codes.update(new_code)
    later = []
    touched: dict[bytes, Account] = {}
    for loc, value in writes.items():
        kind = loc[0]
        if kind == EXISTS:
            if value:
                if store.account(loc[1]) is None:
                    touched[loc[1]] = Account()
            else:
                store._put_account(loc[1], None)
                store._wipe_storage(loc[1])
        elif kind == STORAGE_RESET:
            store._wipe_storage(loc[1])
        else:
            later.append((loc, value))
    for loc, value in later:
        address = loc[1]
        if loc[0] == STORAGE:
            store._put_slot(address, loc[2], value)
            continue
        acc = touched.get(address)
        if acc is None:
            current = store.account(address)
            acc = Account() if current is None else Account(current.nonce, current.balance, current.code_hash)
            touched[address] = acc
        if loc[0] == BALANCE_DELTA:
            acc.balance += value
        else:
            setattr(acc, _FIELD[loc[0]], value)
    for address, acc in touched.items():
        store._put_account(address, acc)


def creation_writes(state) -> WriteSet:
    """The writes that make ``state`` (a MemoryState) from an empty one: a genesis."""
    out: WriteSet = {}
    for address, acc in state.accounts.items():
        out[(EXISTS, address)] = True
        out[(NONCE, address)] = acc.nonce
        out[(BALANCE, address)] = acc.balance
        out[(CODE, address)] = acc.code_hash
        for slot, value in state.slots.get(address, {}).items():
            if value:
                out[(STORAGE, address, slot)] = value
    return out
