"""A block's EIP-7928 list as multi-version memory: every transaction's view of
the state, straight from the list's post-values.

Under list semantics transaction j (block access index j+1) sees the state
before the block's transactions plus the list's values at every index up to j,
so the list's changes at index j+1 are, in effect, transaction j's write set.
``ListMemory`` holds them the way ``MVMemory`` holds recorded writes (per
location, the writers in order and their values), entered account by account
from the list's decoded RLP: no write set is made per transaction, and every reader of
``MVMemory`` works unchanged. An account that appears with a change where it
did not exist is created at its first change; one a change leaves empty (before
Cancun a SELFDESTRUCT: its code gone and its nonce back to 0; or a balance taken from
an account without nonce or code, which only a deletion can do) is gone, storage and
all, for the transactions after, until a field of it changes again.
Changes at index 0 (the system
calls, already in the base) and n+1 (withdrawals, post-block calls) are the
pipeline's, not a transaction's: they are kept apart (``outside``), and bal
holds them to what the pipeline writes there.

Entering an account decodes its entry and checks its part of the list's
encoding and rules (access.eip7928's: canonical integers, ordering, bounds); a
list that breaks one raises InvalidAccessList, and ``access.eip7928.decode`` and
``check`` name the fault. The coordinator enters the whole list (``enter_some``
until none is left: every rule checked, the list's size held to its block's cap,
every transaction's changes counted); a worker enters an account when one of its
transactions first reads it, so it starts executing once the accounts are indexed
by address, from the entries' RLP headers alone (a fifteenth of decoding the whole
list), and decodes and enters only what its share touches.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import islice

import rusty_rlp
from eth_hash.auto import keccak

from parexec.access.eip7928 import MAX_CODE_SIZE, InvalidAccessList, check_size
from parexec.evm import strict_rlp
from parexec.model import BALANCE, CODE, EMPTY_CODE_HASH, EXISTS, FIELD_ATTR, FIELD_DEFAULT, NONCE, STORAGE
from parexec.parallel.mv_memory import LazyAccount, MVMemory, MVView


class ListMemory(MVMemory):
    """Multi-version memory whose entries are a block access list's changes (nothing is recorded)."""

    def __init__(self, base, rlp: bytes, txs: int, cap: int | None = None, indexed: bool = True):
        """``base``: the pre-block state with index 0 applied; ``rlp``: the list,
        for a block of ``txs`` transactions, holding at most ``cap`` items
        (access.eip7928.item_cap; checked once all is entered). Indexes its
        accounts by address (unless ``indexed`` is False: then ``index`` does,
        before anything reads it); each is decoded and entered when first read,
        or all by ``enter_all``."""
        super().__init__(base)
        self.txs, self.cap = txs, cap
        # per transaction, the locations the list changes there (complete once all is entered)
        self.changes_at = [0] * txs
        self.slots: dict[bytes, set[int]] = {}  # per entered account, the slots it changes or reads
        # per entered account whose fields the list changes (or that it creates), the first transaction that does
        self.first_change: dict[bytes, int] = {}
        # per entered account the list shows deleted (a change that leaves it empty: see
        # _destructions), the transactions that delete it, in order
        self.destroyed: dict[bytes, list[int]] = {}
        # the changes at index 0 (pre-block system calls) and n+1 (withdrawals, rewards, post-block
        # calls): {(kind, address[, slot]): {index: value}}, code as bytes; the pipeline's, checked at the end
        self.outside: dict[tuple, dict[int, object]] = {}
        self.rlp = rlp
        # listed accounts not entered yet: address -> where its entry lies in ``rlp``
        self.waiting: dict[bytes, tuple[int, int]] = {}
        self.accounts: set[bytes] = set()  # every listed account
        if indexed:
            self.index()

    def index(self) -> None:
        """Index the list's accounts by address (from the entries' RLP headers:
        InvalidAccessList where they break its encoding)."""
        self.waiting = _index_accounts(self.rlp)
        self.accounts = set(self.waiting)
        # MVView's account fast path: an account the list does not hold reads as the base's
        self.accounts_written = self.accounts

    def enter_all(self) -> None:
        """Enter every account not entered yet: the whole list's rules are then
        checked and ``changes_at`` complete."""
        self.enter_some(len(self.waiting))

    def enter_some(self, count: int) -> bool:
        """Enter up to ``count`` accounts not entered yet; whether none is left
        (the list's size is then checked)."""
        for address in list(islice(self.waiting, count)):
            self._enter(address)
        if self.waiting:
            return False
        check_size(len(self.accounts) + sum(map(len, self.slots.values())), self.cap)
        return True

    def final_writes(self):
        """Every location the list changes in a transaction, at its last value (an
        account it creates: EXISTS), as a WriteSet; code as its hash. Complete
        once all is entered."""
        data = self.data
        return {loc: data[loc][writers[-1]] for loc, writers in self.order.items()
                if loc[0] != EXISTS or data[loc][writers[-1]]}  # a destroyed account: its results settle it

    def record(self, tx, writes, new_code):
        raise TypeError("a list's memory holds the list: nothing is recorded")

    def view(self, tx: int) -> "ListView":
        return ListView(self, tx)

    # The list holds values only (no ESTIMATE, no Delta, no storage reset): a read
    # is the last value below the reader or the base's, without MVMemory's checks.
    def _last(self, loc, tx: int):
        order = self.order.get(loc)
        if order is None and loc[1] in self.waiting:
            self._enter(loc[1])
            order = self.order.get(loc)
        if order:
            i = bisect_left(order, tx)
            if i:
                return self.data[loc][order[i - 1]]
        return ABSENT

    def exists(self, address: bytes, tx: int) -> bool:
        value = self._last((EXISTS, address), tx)
        return self.base.account(address) is not None if value is ABSENT else value

    def field(self, kind: str, address: bytes, tx: int):
        value = self._last((kind, address), tx)
        if value is ABSENT:
            acc = self.base.account(address)
            return FIELD_DEFAULT[kind] if acc is None else getattr(acc, FIELD_ATTR[kind])
        return value

    def storage(self, address: bytes, slot: int, tx: int) -> int:
        value = self._last((STORAGE, address, slot), tx)
        if address in self.destroyed and self._wiped_since(address, slot, tx):
            return 0
        return self.base.storage(address, slot) if value is ABSENT else value

    def _wiped_since(self, address: bytes, slot: int, tx: int) -> bool:
        """Whether ``address`` was destroyed below ``tx`` at or after the slot's
        last change there (its storage went with it)."""
        destroyed = self.destroyed[address]
        i = bisect_left(destroyed, tx)
        if not i:
            return False
        order = self.order.get((STORAGE, address, slot)) or ()
        j = bisect_left(order, tx)
        return destroyed[i - 1] >= (order[j - 1] if j else -1)

    def has_storage(self, address: bytes, tx: int) -> bool:
        self.enter(address)
        destroyed = self.destroyed.get(address)
        if destroyed and bisect_left(destroyed, tx):  # gone with it, but for what was written since
            return any(self.storage(address, slot, tx) for slot in self.slots_of.get(address, ()))
        return super().has_storage(address, tx)

    def slots_listed(self, address: bytes) -> set[int] | frozenset[int]:
        """The slots the list holds for ``address`` (changed or read)."""
        self.enter(address)
        return self.slots.get(address, NO_SLOTS)

    def first_changed(self, address: bytes) -> int | None:
        """The first transaction at which the list changes a field of ``address``
        (or creates it), or None."""
        self.enter(address)
        return self.first_change.get(address)

    def changed_at(self, loc, tx: int):
        """The list's value of ``loc`` at transaction ``tx``'s own index, or ABSENT."""
        self.enter(loc[1])
        values = self.data.get(loc)
        return ABSENT if values is None else values.get(tx, ABSENT)

    def before_change(self, loc, tx: int):
        """The value of ``loc`` just before ``tx``, where the list changes it at
        ``tx``: its change before, or the base's (``value``'s, where a deletion
        may lie between)."""
        if loc[1] in self.destroyed:
            return self.value(loc, tx)
        order = self.order[loc]
        if order[0] != tx:
            return self.data[loc][order[bisect_left(order, tx) - 1]]
        if loc[0] == STORAGE:
            return self.base.storage(loc[1], loc[2])
        acc = self.base.account(loc[1])
        return FIELD_DEFAULT[loc[0]] if acc is None else getattr(acc, FIELD_ATTR[loc[0]])

    def enter(self, address: bytes) -> None:
        """Enter ``address``'s changes (checking its part of the list) unless done."""
        if address in self.waiting:
            self._enter(address)

    def _enter(self, address: bytes) -> None:
        start, end = self.waiting.pop(address)
        try:
            entry = strict_rlp.decode(self.rlp[start:end])  # canonical RLP only
        except rusty_rlp.DecodingError:
            raise InvalidAccessList("not RLP") from None
        if len(entry) != 6:
            raise InvalidAccessList("an account that is not one, or an address out of order or not 20 bytes")
        _, storage, reads, balances, nonces, codes = entry
        try:
            self._enter_account(address, storage, reads, balances, nonces, codes)
        except InvalidAccessList:
            raise
        except (TypeError, ValueError) as exc:  # a byte string where a list belongs, or fields miscounted
            raise InvalidAccessList(f"malformed: {exc}") from None

    def _enter_account(self, address, storage, reads, balances, nonces, codes) -> None:
        if not (type(storage) is list and type(reads) is list and type(balances) is list
                and type(nonces) is list and type(codes) is list):
            raise InvalidAccessList("a byte string where a list belongs")
        txs = self.txs
        first = txs  # its first change in a transaction
        slots: set[int] = set()
        if storage:
            last, changed = -1, set()
            series = self._series
            for slot_bytes, slot_changes in storage:
                slot = _int(slot_bytes, 32)
                if slot <= last or type(slot_changes) is not list or not slot_changes:
                    raise InvalidAccessList("storage changes out of order or empty")
                last = slot
                slots.add(slot)
                at = series((STORAGE, address, slot), slot_changes, 32)
                if at < txs:
                    changed.add(slot)
                    if at < first:
                        first = at
            self.slots_of[address] = changed
        if reads:
            last = -1
            for slot_bytes in reads:
                slot = _int(slot_bytes, 32)
                if slot <= last or slot in slots:
                    raise InvalidAccessList("storage reads out of order or changed")
                last = slot
                slots.add(slot)
        self.slots[address] = slots
        fields = txs  # its first change of a field (balance, nonce, code)
        if balances:
            fields = min(fields, self._series((BALANCE, address), balances, 32))
        if nonces:
            fields = min(fields, self._series((NONCE, address), nonces, 8))
        if codes:
            fields = min(fields, self._series((CODE, address), codes, None))
        first = min(first, fields)
        if first < txs:
            acc = self.base.account(address)
            if acc is None:
                self.order[(EXISTS, address)] = [first]
                self.data[(EXISTS, address)] = {first: True}
                fields = first
            if fields < txs:
                self.first_change[address] = fields
                balances = self.data.get((BALANCE, address))
                if (0 in balances.values()) if balances else (acc is None or not acc.balance):
                    self._destructions(address)  # a change may leave it empty: never without a balance

    def _destructions(self, address: bytes, learned: tuple[int, ...] = ()) -> None:
        """Before Cancun SELFDESTRUCT deletes an account, storage and all, which no
        value says; nor does EIP-161's deletion of an account a transaction leaves
        empty. The list shows either as a change that leaves the account empty
        (balance and nonce 0, no code: its code gone and its nonce back to 0, or
        a balance taken from an account with neither), which nothing but a
        deletion can do. Later transactions then see no account and no storage,
        until a change of a field brings the account back. ``learned``: deletions
        the list cannot show, at these transactions (``learn_deletion``)."""
        data = self.data
        acc = self.base.account(address)
        series = [(kind, data.get((kind, address), {})) for kind in (BALANCE, NONCE, CODE)]
        changes = sorted({tx for _, values in series for tx in values})
        now = {BALANCE: 0, NONCE: 0, CODE: EMPTY_CODE_HASH} if acc is None else \
            {BALANCE: acc.balance, NONCE: acc.nonce, CODE: acc.code_hash}
        destroyed = set(learned)
        for tx in changes:
            for kind, values in series:
                if tx in values:
                    now[kind] = values[tx]
            if not now[BALANCE] and not now[NONCE] and now[CODE] == EMPTY_CODE_HASH:
                destroyed.add(tx)
        if not destroyed:
            return
        self.destroyed[address] = destroyed = sorted(destroyed)
        exists = {tx: value for tx, value in data.get((EXISTS, address), {}).items() if value}
        for tx in destroyed:
            exists[tx] = False
            back = next((c for c in changes if c > tx), None)  # a field set again: the account is back
            if back is not None and back not in destroyed:
                exists[back] = True
        self.order[(EXISTS, address)] = sorted(exists)
        data[(EXISTS, address)] = exists

    def learn_deletion(self, address: bytes, tx: int) -> bool:
        """Transaction ``tx``'s result deletes ``address`` where the list may show
        no deletion: EIP-161's of an account that was empty before the block (no
        change of a field leaves it so), or Cancun's of one created and destroyed
        in one transaction. The views of the transactions after it then have it
        gone, storage and all (the coordinator's memory: for executing one of them
        again). Whether this was news."""
        self.enter(address)
        known = self.destroyed.get(address, ())
        if tx in known:
            return False
        self._destructions(address, (*known, tx))
        self._changed_from(address, tx)
        return True

    def _changed_from(self, address: bytes, tx: int) -> None:
        """Past ``tx`` a view asks whether ``address`` exists (ListView.account)."""
        first = self.first_change.get(address)
        if first is None or tx < first:
            self.first_change[address] = tx

    def learn_creation(self, address: bytes, tx: int) -> bool:
        """Transaction ``tx``'s result creates ``address`` where the list shows no
        creation: before EIP-161 a call that moves no value to a missing account
        creates it, empty, which no value of a list can show. The views of the
        transactions after it then have it, every field at its default (the
        coordinator's memory: for executing one of them again). Whether this was
        news."""
        self.enter(address)
        if self.exists(address, tx + 1):
            return False
        exists = self.data.setdefault((EXISTS, address), {})
        exists[tx] = True
        self.order[(EXISTS, address)] = sorted(exists)
        self._changed_from(address, tx)
        return True

    def _series(self, loc, changes, width: int | None) -> int:
        """Enter ``loc``'s changes (``width``: bytes an integer value may take;
        None: code); its first transaction (``txs`` if none)."""
        if len(changes) == 1 and width is not None:  # most locations change once: the short way
            index_bytes, value = changes[0]
            if (type(index_bytes) is not bytes or type(value) is not bytes or len(index_bytes) > 4
                    or len(value) > width or index_bytes[:1] == b"\x00" or value[:1] == b"\x00"):
                raise InvalidAccessList("an integer that is not one, or too wide")
            index, value = int.from_bytes(index_bytes, "big"), int.from_bytes(value, "big")
            if not 1 <= index <= self.txs:
                if index > self.txs + 1:
                    raise InvalidAccessList("an index beyond the block")
                self.outside[loc] = {index: value}
                return self.txs
            self.order[loc] = [index - 1]
            self.data[loc] = {index - 1: value}
            self.changes_at[index - 1] += 1
            return index - 1
        writers, values = [], []
        last, top = -1, self.txs + 1
        for index_bytes, value in changes:
            index = _int(index_bytes, 4)
            if index <= last or index > top:
                raise InvalidAccessList("indices out of order or beyond the block")
            last = index
            if width is not None:
                value = _int(value, width)
            elif type(value) is not bytes or len(value) > MAX_CODE_SIZE:
                raise InvalidAccessList("a code change that is no code")
            if 1 <= index <= self.txs:
                if width is None:
                    code_hash = keccak(value) if value else EMPTY_CODE_HASH
                    self.codes[code_hash] = value
                    value = code_hash
                writers.append(index - 1)
                values.append(value)
                self.changes_at[index - 1] += 1
            else:
                self.outside.setdefault(loc, {})[index] = value
        if not writers:
            return self.txs
        self.order[loc] = writers
        self.data[loc] = dict(zip(writers, values))
        return writers[0]


ABSENT = object()  # changed_at: the list has no change there
NO_SLOTS: frozenset = frozenset()


class ListView(MVView):
    """The state transaction ``tx`` executes on: the list's values below ``tx`` over
    the base. An account the list changes nowhere below ``tx`` is the base's own
    (most of a block's reads), the rest as MVView has them."""

    __slots__ = ("base",)

    def __init__(self, mv: ListMemory, tx: int):
        super().__init__(mv, tx)
        self.base = mv.base

    def account(self, address: bytes):
        first = self.mv.first_change.get(address)
        if first is None and address in self.mv.waiting:
            first = self.mv.first_changed(address)
        if first is None or first >= self.tx:
            return self.base.account(address)
        if address in self.mv.destroyed and not self.mv.exists(address, self.tx):
            return None
        return LazyAccount(self.mv, address, self.tx)  # it exists: created at ``first`` at the latest


def _index_accounts(rlp: bytes) -> dict[bytes, tuple[int, int]]:
    """Where each account's entry lies in the list ``rlp``, by address, read from
    the entries' RLP headers and addresses alone (a fifteenth of decoding the
    whole list): the outer encoding and the addresses' order are checked here,
    an entry's inside when it is entered."""
    start, end = _list_at(rlp, 0, len(rlp), "not a list of accounts")
    if end != len(rlp):
        raise InvalidAccessList("not RLP")
    accounts: dict[bytes, tuple[int, int]] = {}
    previous = b""
    at = start
    while at < end:
        body, entry_end = _list_at(rlp, at, end, "an account that is not one")
        address = rlp[body + 1:body + 21]
        if body + 21 > entry_end or rlp[body] != 0x94 or address <= previous:
            raise InvalidAccessList("an account that is not one, or an address out of order or not 20 bytes")
        accounts[address] = (at, entry_end)
        previous = address
        at = entry_end
    return accounts


def _list_at(rlp: bytes, at: int, end: int, not_a_list: str) -> tuple[int, int]:
    """Where the payload of the RLP list at ``at`` starts and where the list ends
    (both at most ``end``); InvalidAccessList if it is no list or not canonical."""
    if at >= end:
        raise InvalidAccessList("not RLP")
    prefix = rlp[at]
    if prefix < 0xC0:
        raise InvalidAccessList(not_a_list)
    if prefix <= 0xF7:
        body, size = at + 1, prefix - 0xC0
    else:
        body = at + 1 + prefix - 0xF7
        size = int.from_bytes(rlp[at + 1:body], "big")
        if body > end or rlp[at + 1] == 0 or size < 56:  # a long form must be needed, without leading zeros
            raise InvalidAccessList("not RLP")
    if body + size > end:
        raise InvalidAccessList("not RLP")
    return body, body + size


def _int(item, width: int) -> int:
    """An RLP integer of at most ``width`` bytes, without leading zeros."""
    if type(item) is not bytes or len(item) > width or item[:1] == b"\x00":
        raise InvalidAccessList("an integer that is not one, or too wide")
    return int.from_bytes(item, "big")
