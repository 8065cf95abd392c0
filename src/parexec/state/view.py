"""The read-only interface every executor sees the state through."""

from __future__ import annotations

from typing import Protocol

from parexec.model import (
    FIELD_ATTR,
    FIELD_DEFAULT,
    BALANCE_FLOOR,
    EXISTS,
    HAS_STORAGE,
    STORAGE,
    Account,
)


class ReadNotReady(BaseException):
    """A view cannot answer this read yet (a multi-version view whose writer is
    being re-executed): the execution reading it must stop, and no code may take
    it for a failure of the transaction. A BaseException, as asyncio's
    CancelledError is, so that broad ``except Exception`` handlers let it through:
    py-evm skips an EIP-7702 authorization on any Exception, which lost the
    authorization instead of waiting for its writer."""


class StateView(Protocol):
    """Read access to a state. Absent accounts return None; absent slots return 0."""

    def account(self, address: bytes) -> Account | None: ...

    def storage(self, address: bytes, slot: int) -> int: ...

    def code(self, code_hash: bytes) -> bytes: ...

    def has_storage(self, address: bytes) -> bool:
        """Whether any slot of the account is non-zero (EIP-7610)."""
        ...

def read_value(view: StateView, loc: tuple):
    """The value a transaction reading ``loc`` on ``view`` sees (as RecordingAccountDB
    records it): validating a read set means comparing these with the recorded ones."""
    kind = loc[0]
    if kind == STORAGE:
        return view.storage(loc[1], loc[2])
    if kind == HAS_STORAGE:
        return view.has_storage(loc[1])
    acc = view.account(loc[1])
    if kind == BALANCE_FLOOR:
        return acc is not None and acc.balance >= loc[2]
    if kind == EXISTS:
        return acc is not None
    return FIELD_DEFAULT[kind] if acc is None else getattr(acc, FIELD_ATTR[kind])
