"""The read-only interface every executor sees the state through."""

from __future__ import annotations

from typing import Protocol

from parexec.model import Account


class StateView(Protocol):
    """Read access to a state. Absent accounts return None; absent slots return 0."""

    def account(self, address: bytes) -> Account | None: ...

    def storage(self, address: bytes, slot: int) -> int: ...

    def code(self, code_hash: bytes) -> bytes: ...

    def has_storage(self, address: bytes) -> bool:
        """Whether any slot of the account is non-zero (EIP-7610)."""
        ...
