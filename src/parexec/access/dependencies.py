"""Dependencies between transactions from their footprints, at a lock granularity.

* ``account``: a lock per account (Solana's Sealevel): any read of an account
  takes its read lock, any write its write lock.
* ``slot``: a lock per location, a storage slot or one account field (object
  level, as Sui and Aptos): two token transfers between different holders no
  longer conflict.

Under both, balance deltas commute (fees to the beneficiary and value received
are no lock, parexec.model), but an exact read or write of a balance waits for
the deltas to it since its last exact write: it sees their sum. A balance floor
(a check that the balance covers an amount) waits for an exact balance write
and for the credits to the account: deltas by transactions it did not send
(a transaction whose sender is unknown counts as a credit). Its own
transactions' debits are left to the in-order commit to check; waiting for them
would serialize every sender's transactions.

With ``predict_nonces`` a sender's nonce is no dependency of its own
transactions: it is known before execution (the transaction's own nonce) and
the commit checks it (another transaction reading it waits as for any write);
unless an earlier transaction of someone else changed it (an EIP-7702
authorization bumps its authority's nonce): from there on the account's nonce
is an ordinary location.

``locks`` gives Sealevel's rule: j waits for every earlier transaction holding a
conflicting lock (read/write, write/read, write/write). ``data`` gives true
dependencies only (j reads or writes what i writes): with multi-version memory
j never needs to wait for an earlier reader. ``reads`` keeps read-after-write
alone (j reads what i wrote last before it), the dependency graph that
``parexec analyze`` reports: what limits any schedule that versions writes.
Under ``reads`` a floor waits for no delta either: fees and credits are no
dependency unless a balance is observed exactly (a builder paying the proposer
from the fees it collected does not wait for every transaction before it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from parexec.access.footprint import Footprint
from parexec.model import BALANCE, BALANCE_DELTA, BALANCE_FLOOR, NONCE

GRANULARITIES = ("account", "slot")


def lock_keys(footprint: Footprint, granularity: str) -> tuple[set, set]:
    """(read keys, write keys) of a footprint (a key both read and written is in both)."""
    if granularity == "account":
        return ({loc[1] for loc in footprint.reads},
                {loc[1] for loc in footprint.writes if loc[0] != BALANCE_DELTA})
    return ({(BALANCE, loc[1]) if loc[0] == BALANCE_FLOOR else loc for loc in footprint.reads},
            {loc for loc in footprint.writes if loc[0] != BALANCE_DELTA})


def _key(loc: tuple, granularity: str):
    return loc[1] if granularity == "account" else loc


RULES = ("locks", "data", "reads")


def dependency_edges(footprints: Sequence[Footprint], granularity: str, rule: str = "locks",
                     predict_nonces: bool = False) -> Iterator[tuple[int, int, object]]:
    """Every (i, j, key): transaction j must wait for the earlier i because of ``key``
    (an address, or a location at slot granularity). ``rule`` "reads" keeps only
    true read-after-write dependencies: j reads what i wrote last before it."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity {granularity!r}: choose from {GRANULARITIES}")
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}: choose from {', '.join(RULES)}")
    last_writer: dict = {}
    readers_since: dict = {}  # key -> readers after its last writer
    # address -> delta writers (and those that are credits) since its last exact balance write
    deltas_since: dict[bytes, list[int]] = {}
    credits_since: dict[bytes, list[int]] = {}
    foreign_nonces: set[bytes] = set()  # accounts whose nonce a transaction they did not send wrote
    for j, footprint in enumerate(footprints):
        sender = footprint.sender
        own_nonce = ()  # written, but waited for by none of its sender's own transactions
        if predict_nonces and sender is not None and sender not in foreign_nonces:
            nonce = {(NONCE, sender)}
            own_nonce = nonce & footprint.writes
            footprint = Footprint(footprint.reads - nonce, footprint.writes - nonce, sender)
        reads, writes = lock_keys(footprint, granularity)
        for key in reads if rule == "reads" else reads | writes:
            writer = last_writer.get(key)
            if writer is not None:
                yield writer, j, key
        exact = footprint.reads if rule == "reads" else footprint.reads | footprint.writes
        for loc in exact:
            if loc[0] == BALANCE:
                for i in deltas_since.get(loc[1], ()):
                    yield i, j, _key(loc, granularity)
        for loc in footprint.reads if rule != "reads" else ():
            if loc[0] == BALANCE_FLOOR:
                for i in credits_since.get(loc[1], ()):
                    yield i, j, _key((BALANCE, loc[1]), granularity)
        if rule == "locks":
            for key in writes:
                for i in readers_since.get(key, ()):
                    yield i, j, key
        if rule == "locks":
            for key in reads:
                readers_since.setdefault(key, []).append(j)
        for key in writes.union(_key(loc, granularity) for loc in own_nonce):
            last_writer[key] = j
            if rule == "locks":
                readers_since[key] = []
        for loc in footprint.writes:
            address = loc[1]
            if loc[0] == NONCE and address != sender:
                foreign_nonces.add(address)
            if loc[0] == BALANCE:
                deltas_since[address], credits_since[address] = [], []
            elif loc[0] == BALANCE_DELTA:
                deltas_since.setdefault(address, []).append(j)
                if address != sender:
                    credits_since.setdefault(address, []).append(j)


def dependencies(footprints: Sequence[Footprint], granularity: str, rule: str = "locks",
                 predict_nonces: bool = False) -> list[set[int]]:
    """For each transaction j, the earlier transactions it must wait for."""
    deps: list[set[int]] = [set() for _ in footprints]
    for i, j, _key_ in dependency_edges(footprints, granularity, rule, predict_nonces):
        deps[j].add(i)
    return deps
