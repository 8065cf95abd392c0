"""A transaction's footprint: the state locations it reads and writes.

Declared-access strategies schedule by footprints known before execution (as
Solana's Sealevel schedules by declared accounts); optimistic ones discover them
after. Locations are those of parexec.model, with two simplifications that make
a footprint a statement about conflicts rather than values:

* a balance floor is ``(balance_floor, a)``: the amount does not matter for
  scheduling (a floor is checked exactly at commit);
* ``(balance_delta, a)`` writes commute with each other: many credits to one
  account are not a conflict, only an exact read of its balance is.
"""

from __future__ import annotations

from dataclasses import dataclass

from parexec.model import (
    BALANCE,
    BALANCE_DELTA,
    BALANCE_FLOOR,
    CODE,
    EXISTS,
    HAS_STORAGE,
    NONCE,
    STORAGE,
    STORAGE_RESET,
    TxResult,
)


@dataclass(frozen=True)
class Footprint:
    reads: frozenset
    writes: frozenset
    sender: bytes | None = None  # who signed it, if known: its nonce and fee are the sender's

    @classmethod
    def of_result(cls, result: TxResult) -> "Footprint":
        """What an execution really read and wrote."""
        return cls(frozenset(map(scheduling_location, result.reads)), frozenset(result.writes), result.sender)

    def __or__(self, other: "Footprint") -> "Footprint":
        return Footprint(self.reads | other.reads, self.writes | other.writes, self.sender or other.sender)

    def covers(self, actual: "Footprint") -> bool:
        """Whether this (declared) footprint includes everything ``actual`` touched."""
        return actual.reads <= self.reads | self.writes and actual.writes <= self.writes


EMPTY = Footprint(frozenset(), frozenset())


def scheduling_location(loc: tuple) -> tuple:
    """A read location as footprints hold it (a floor without its amount)."""
    return loc[:2] if loc[0] == BALANCE_FLOOR else loc


def static_footprint(tx, sender: bytes | None) -> Footprint:
    """What a transaction declares by its fields alone: its sender (nonce, a balance
    floor, the debit), its recipient (code; a credit if it carries value) and its
    EIP-2930 access list (every listed slot as read and written: the list does
    not say which). A contract creation's address is not declared here: it
    depends on the sender's nonce at execution. ``sender`` None leaves the sender
    out (recovering it costs a signature check; observed footprints name it)."""
    reads, writes = set(), set()
    if sender is not None:
        reads.update({(NONCE, sender), (BALANCE_FLOOR, sender), (CODE, sender), (EXISTS, sender)})
        writes.update({(NONCE, sender), (BALANCE_DELTA, sender)})
    to = tx.to
    if to:
        reads.update({(CODE, to), (EXISTS, to)})
        if tx.value:
            writes.add((BALANCE_DELTA, to))
    for address, slots in getattr(tx, "access_list", ()) or ():
        reads.update({(CODE, address), (EXISTS, address)})
        for slot in slots:
            reads.add((STORAGE, address, slot))
            writes.add((STORAGE, address, slot))
    return Footprint(frozenset(reads), frozenset(writes), sender)


# the location kinds a footprint may hold
KINDS = frozenset({BALANCE, NONCE, CODE, EXISTS, STORAGE, STORAGE_RESET, HAS_STORAGE,
                   BALANCE_DELTA, BALANCE_FLOOR})
