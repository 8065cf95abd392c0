"""What a transaction must agree with in a block's EIP-7928 list.

A transaction executes on the list's view of the state (parallel.list_memory:
the state before the block plus the list's values at every earlier index).
``ListCheck`` then holds its execution to the list: every location it read must
be in the list (its account listed, a slot among the account's changes or
reads), and what it leaves must be exactly the list's changes at its index:
each field and slot it writes ends at the listed value (or, unlisted, where it
was), nothing the list changes at that index is left out (counted: the list's
changes there against those the transaction accounts for), and each of those
changes something: the EIP records a write that leaves a value as it was as a
read, never as a change. Where the transaction wipes storage or deletes an
account, and so writes no value, the list's changes there must be what that
leaves (zero, no code).

The EIP also makes a list invalid for what it holds in excess: every address and
slot it names must be one the block accesses. ``Accessed`` gathers what the
executions and the steps around them access, and ``holds_exactly`` and
``name_excess`` hold the list to it once the block is done.
"""

from __future__ import annotations

from parexec.access.eip7928 import InvalidAccessList
from parexec.model import (
    BALANCE,
    BALANCE_DELTA,
    CODE,
    EMPTY_CODE_HASH,
    EXISTS,
    NONCE,
    STORAGE,
    STORAGE_RESET,
    show,
)
from parexec.parallel.list_memory import ABSENT, ListMemory


class ListMismatch(Exception):
    """A transaction disagrees with the list (the message names it and the location)."""


class ListCheck:
    """``check`` is the coordinator's, on a memory entered whole; a worker, whose
    memory enters accounts as they are read, holds a result location by location
    (``accounted_here``) and leaves the count to the coordinator."""

    def __init__(self, memory: ListMemory):
        self.memory = memory

    def check(self, j: int, result) -> None:
        """Raise ListMismatch unless ``result`` (transaction j, executed on its view
        of ``memory``) agrees with the list."""
        accounted = self.held(j, result)
        if accounted != self.memory.changes_at[j]:  # so some change listed at j is not accounted for: name it
            after, destroyed, wiped, _ = self._after(j, result)
            for loc in self._changes_of(None, j):
                if loc not in after and not _exempt(loc, wiped, destroyed):
                    raise ListMismatch(f"the list changes {_where(loc)} at tx {j} "
                                       f"(to {show(self.memory.changed_at(loc, j))}); the transaction does not")
            raise ListMismatch(f"tx {j} accounts for {accounted} of the {self.memory.changes_at[j]} "
                               f"changes the list holds there")

    def held(self, j: int, result) -> int:
        """Hold ``result``'s reads (unless dropped) and writes to the list location
        by location; the number of the list's changes at j it accounts for.
        Raises ListMismatch. (Every result of a block passes here, on whichever
        process executed it: the common steps are written out, not called.)"""
        memory = self.memory
        reads = result.reads
        if reads is not None:
            accounts, waiting, listed_slots = memory.accounts, memory.waiting, memory.slots
            for loc in reads:
                address = loc[1]
                if address not in accounts:
                    self._outside(j, loc, "reads")
                if loc[0] == STORAGE:
                    if address in waiting:
                        memory.enter(address)
                    if loc[2] not in listed_slots[address]:
                        self._outside(j, loc, "reads")
        after, destroyed, wiped, before = self._after(j, result)
        seen = reads or {}  # what it read: values before j (unless dropped), as ``before`` holds some
        data = memory.data  # the accounts written are entered (``_after``)
        accounted = 0  # the list's changes at j that the transaction accounts for
        for loc, value in after.items():
            values = data.get(loc)
            listed = ABSENT if values is None else values.get(j, ABSENT)
            if destroyed and loc[0] in (NONCE, CODE) and loc[1] in destroyed:
                if listed is not ABSENT:
                    self._cleared(j, loc)
                    accounted += 1
                continue
            if listed is ABSENT:  # the list does not change it here: it must leave it as it was
                listed = memory.value(loc, j)
                if value != listed:
                    self._leaves(j, loc, value, listed)
                continue
            accounted += 1  # the list changes it here: it must leave that, and change it
            if value != listed:
                self._leaves(j, loc, value, listed)
            known = before.get(loc, ABSENT)
            if known is ABSENT:
                known = seen.get(loc, ABSENT)
                if known is ABSENT:
                    known = memory.before_change(loc, j)
            if listed == known:
                self._a_change(j, loc, listed, known)  # raises
        if wiped or destroyed:
            for address in wiped | destroyed:
                for loc in self._changes_of(address, j):
                    if _exempt(loc, wiped, destroyed) and loc not in after:
                        self._cleared(j, loc)
                        accounted += 1
        return accounted

    @staticmethod
    def _leaves(j: int, loc, value, listed) -> None:
        raise ListMismatch(f"tx {j} leaves {_where(loc)} = {show(value)}; the list says {show(listed)}")

    def _a_change(self, j: int, loc, listed, known=ABSENT) -> None:
        """Raise ListMismatch if the list's change of ``loc`` at j leaves it as it
        was before j (``known``, if the caller knows it): the EIP records a write
        that leaves a value as it was (a no-op SSTORE, a balance back where it
        started, a new account's zero balance) as a read, or not at all, never
        as a change."""
        if listed == (self.memory.before_change(loc, j) if known is ABSENT else known):
            raise ListMismatch(f"the list changes {_where(loc)} at tx {j} to {show(listed)}, which it already "
                               f"was: a write that leaves a value as it was is no change")

    def _cleared(self, j: int, loc) -> None:
        """Hold the list's change of ``loc`` at j, where the transaction wipes
        the storage or deletes the account (so it writes no value there), to
        what that leaves: zero, or no code."""
        listed = self.memory.changed_at(loc, j)
        cleared = EMPTY_CODE_HASH if loc[0] == CODE else 0
        if listed != cleared:
            raise ListMismatch(f"tx {j} clears {_where(loc)}; the list says {show(listed)}")
        self._a_change(j, loc, listed)

    def _after(self, j: int, result) -> tuple[dict, set, set, dict]:
        """What ``result`` leaves at each location it writes (a balance delta
        added to the value before it), the accounts it destroys, those whose
        storage it wipes, and the values before j it looked up (the balances
        under a delta); raises ListMismatch for a write the list does not hold."""
        memory = self.memory
        accounts = memory.accounts
        after: dict = {}
        before: dict = {}
        destroyed, wiped = set(), set()
        waiting, listed_slots = memory.waiting, memory.slots
        for loc, value in result.writes.items():
            kind, address = loc[0], loc[1]
            if address not in accounts:
                self._outside(j, loc, "writes")
            if address in waiting:
                memory.enter(address)
            if kind == STORAGE:
                if loc[2] not in listed_slots[address]:
                    self._outside(j, loc, "writes")
                after[loc] = value
            elif kind == BALANCE_DELTA:
                key = (BALANCE, address)
                if key not in before:
                    before[key] = memory.value(key, j)
                after[key] = after.get(key, before[key]) + value
            elif kind in (BALANCE, NONCE, CODE):
                after[loc] = value
            elif kind == EXISTS:
                if not value:
                    destroyed.add(address)
            elif kind == STORAGE_RESET:
                wiped.add(address)
        for address in destroyed:  # gone: no balance (the EIP lists no nonce or code change for it)
            after[(BALANCE, address)] = 0
        return after, destroyed, wiped, before

    def _changes_of(self, address: bytes | None, j: int) -> list:
        """The locations the list changes at transaction j (of ``address``, or all),
        EXISTS aside: a scan, for the rare cases that need them named."""
        if address is not None:
            self.memory.enter(address)
        return [loc for loc, values in self.memory.data.items()
                if j in values and loc[0] != EXISTS and (address is None or loc[1] == address)]

    def accounted_here(self, j: int, result) -> int | None:
        """``held``, or None where the result disagrees or an account it enters
        breaks the list's rules (a worker's question: the coordinator asks again of
        such a result, to raise with the message)."""
        try:
            return self.held(j, result)
        except (ListMismatch, InvalidAccessList):
            return None

    def _outside(self, j: int, loc, what: str) -> None:
        if loc[1] not in self.memory.accounts:
            raise ListMismatch(f"tx {j} {what} {_where(loc)}, whose account the list does not hold")
        raise ListMismatch(f"tx {j} {what} {_where(loc)}, which the list does not hold")


class Accessed:
    """What a block's executions accessed (read or wrote), gathered as whole read
    and write sets (a set's update: C speed) and reduced to accounts and slots,
    what its EIP-7928 list must hold, once (``units``)."""

    def __init__(self):
        self.locations: set[tuple] = set()

    def add(self, locations) -> None:
        self.locations.update(locations)

    def units(self) -> tuple[set[bytes], set[tuple]]:
        """The accounts, and the slots as (STORAGE, address, slot)."""
        locations = self.locations
        return {loc[1] for loc in locations}, {loc for loc in locations if loc[0] == STORAGE}


def check_inside(memory: ListMemory, accessed: Accessed, who: str) -> None:
    """Raise ListMismatch unless every account and slot ``who`` accessed is in the list."""
    addresses, slots = accessed.units()
    for address in sorted(addresses - memory.accounts):
        raise ListMismatch(f"{who} access 0x{address.hex()}, whose account the list does not hold")
    for loc in sorted(slots):
        if loc[2] not in memory.slots_listed(loc[1]):
            raise ListMismatch(f"{who} access {_where(loc)}, which the list does not hold")


def holds_exactly(memory: ListMemory, addresses: set, slots: set) -> bool:
    """Whether the list (entered whole) holds exactly these accounts and slots,
    given that it holds all of them: counts suffice."""
    return len(addresses) == len(memory.accounts) and len(slots) == sum(map(len, memory.slots.values()))


def name_excess(memory: ListMemory, addresses: set, slots: set) -> None:
    """Raise ListMismatch naming the first account or slot the list holds that is
    not among these (the EIP: spurious entries invalidate the block)."""
    for address in sorted(memory.accounts - addresses):
        raise ListMismatch(f"the list holds 0x{address.hex()}, which nothing in the block accesses")
    for address in sorted(memory.slots):
        for slot in sorted(memory.slots[address]):
            if (STORAGE, address, slot) not in slots:
                raise ListMismatch(f"the list holds {_where((STORAGE, address, slot))}, "
                                   f"which nothing in the block accesses")


def check_outside(memory: ListMemory, expected: dict[int, dict]) -> None:
    """Raise ListMismatch unless the list's changes at each index of ``expected``
    (0: the pre-block system calls; n+1: withdrawals, rewards and the post-block
    system calls) are exactly the block's there, ``expected[index]``: {location:
    value after}, as access.eip7928_builder.phase_changes gives them. Checked
    once the whole list is entered."""
    for index, changes in expected.items():
        given = {loc: values[index] for loc, values in memory.outside.items() if index in values}
        if given == changes:
            continue
        loc = min((loc for loc in given.keys() | changes.keys() if given.get(loc, ABSENT) != changes.get(loc, ABSENT)),
                  key=repr)
        phase = "the pre-block system calls" if index == 0 else "withdrawals, rewards and post-block system calls"
        listed = "no change" if loc not in given else show(given[loc])
        left = "no change" if loc not in changes else show(changes[loc])
        raise ListMismatch(f"at index {index} ({phase}) the list says {_where(loc)} = {listed}; the block "
                           f"leaves {left}")


def _exempt(loc, wiped: set, destroyed: set) -> bool:
    """A change the list holds that is checked through what the transaction leaves
    instead: a slot of wiped storage, the nonce or code of a destroyed account."""
    return (loc[0] == STORAGE and loc[1] in wiped) or (loc[0] in (NONCE, CODE) and loc[1] in destroyed)


def _where(loc) -> str:
    text = f"{loc[0]} of 0x{loc[1].hex()}"
    return f"storage 0x{loc[1].hex()}[{hex(loc[2])}]" if loc[0] == STORAGE else text
