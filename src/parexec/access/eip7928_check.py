"""What a transaction must agree with in an EIP-7928 list, and the list as the
write sets transactions execute on.

Under list semantics transaction j (block access index j+1) sees the state
before the block's transactions plus the list's post-values at every index up
to j: the list's changes at index j+1 are, in effect, transaction j's write set.
``list_writes`` turns the list into those write sets (an account that appears
with a change where it did not exist is created there), so that the
multi-version memory serves each transaction its view. ``ListCheck`` then holds
an execution to the list: every location it read must be in the list (its
account listed, a slot among the account's changes or reads), and what it
leaves must be exactly the list's changes at its index: each field and slot it
writes ends at the listed value (or, unlisted, where it was), and nothing the
list changes at that index is left out.
"""

from __future__ import annotations

from eth_hash.auto import keccak

from parexec.access.eip7928 import BlockAccessList
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


def list_writes(access_list: BlockAccessList, state, txs: int) -> list[tuple[dict, dict]]:
    """Per transaction, (writes, new code): the list's changes at its index, as a
    write set over ``state`` (the pre-block state with index 0 applied)."""
    per_tx: list[tuple[dict, dict]] = [({}, {}) for _ in range(txs)]
    for account in access_list.accounts:
        a = account.address
        changes: dict[int, dict] = {}
        for index, value in account.balance_changes:
            changes.setdefault(index, {})[(BALANCE, a)] = value
        for index, value in account.nonce_changes:
            changes.setdefault(index, {})[(NONCE, a)] = value
        for index, code in account.code_changes:
            changes.setdefault(index, {})[(CODE, a)] = code
        for slot, slot_changes in account.storage_changes:
            for index, value in slot_changes:
                changes.setdefault(index, {})[(STORAGE, a, slot)] = value
        exists = state.account(a) is not None
        for index in sorted(changes):
            if not 1 <= index <= txs:
                continue  # system calls and withdrawals: the pipeline's, not a transaction's
            writes, new_code = per_tx[index - 1]
            if not exists:
                writes[(EXISTS, a)] = True
                exists = True
            for loc, value in changes[index].items():
                if loc[0] == CODE:
                    code_hash = keccak(value) if value else EMPTY_CODE_HASH
                    new_code[code_hash] = value
                    value = code_hash
                writes[loc] = value
    return per_tx


class ListMismatch(Exception):
    """A transaction disagrees with the list (the message names it and the location)."""


def load_list(access_list: BlockAccessList, mv, txs: int) -> "ListCheck":
    """Record the list's changes in the multi-version memory ``mv`` (over the
    pre-block state) as the write sets of a block of ``txs`` transactions, so each
    transaction's view is the list's state before it; the check that goes with it."""
    per_tx = list_writes(access_list, mv.base, txs)
    for j, (writes, new_code) in enumerate(per_tx):
        mv.record(j, writes, new_code)
    return ListCheck(access_list, per_tx, mv)


class ListCheck:
    def __init__(self, access_list: BlockAccessList, per_tx: list[tuple[dict, dict]], mv):
        self.per_tx, self.mv = per_tx, mv
        self.accounts = {a.address for a in access_list.accounts}
        self.slots = {a.address: {s for s, _ in a.storage_changes} | set(a.storage_reads)
                      for a in access_list.accounts}

    def check(self, j: int, result) -> None:
        """Raise ListMismatch unless ``result`` (transaction j, executed on its list
        view in ``mv``) agrees with the list."""
        value_before = lambda loc: self.mv.value(loc, j)  # noqa: E731
        for loc in result.reads:
            self._inside(j, loc, "reads")
        listed = self.per_tx[j][0]
        written = result.writes
        destroyed = {loc[1] for loc, v in written.items() if loc[0] == EXISTS and not v}
        after: dict = {}
        for loc, value in written.items():
            kind, address = loc[0], loc[1]
            self._inside(j, loc, "writes")
            if kind == BALANCE_DELTA:
                key = (BALANCE, address)
                after[key] = after.get(key, value_before(key)) + value
            elif kind in (BALANCE, NONCE, CODE, STORAGE):
                after[loc] = value
        for address in destroyed:  # gone: no balance (the EIP lists no nonce or code change for it)
            after[(BALANCE, address)] = 0
        for loc, value in after.items():
            if loc[0] in (NONCE, CODE) and loc[1] in destroyed:
                continue
            expected = listed.get(loc, value_before(loc))
            if value != expected:
                raise ListMismatch(f"tx {j} leaves {_where(loc)} = {show(value)}; the list says {show(expected)}")
        for loc, expected in listed.items():
            if loc[0] == EXISTS or loc in after or (loc[0] in (NONCE, CODE) and loc[1] in destroyed):
                continue
            if any(w[0] == STORAGE_RESET and w[1] == loc[1] for w in written) and loc[0] == STORAGE:
                continue  # a wiped slot the transaction recreated: checked through after
            raise ListMismatch(f"the list changes {_where(loc)} at tx {j} (to {show(expected)}); "
                               "the transaction does not")

    def agrees(self, j: int, result) -> bool:
        """Whether ``check`` passes (a worker's question: the coordinator asks again
        of a result that does not, to raise with the message)."""
        try:
            self.check(j, result)
        except ListMismatch:
            return False
        return True

    def _inside(self, j: int, loc, what: str) -> None:
        address = loc[1]
        if address not in self.accounts:
            raise ListMismatch(f"tx {j} {what} {_where(loc)}, whose account the list does not hold")
        if loc[0] == STORAGE and loc[2] not in self.slots[address]:
            raise ListMismatch(f"tx {j} {what} {_where(loc)}, which the list does not hold")


def _where(loc) -> str:
    text = f"{loc[0]} of 0x{loc[1].hex()}"
    return f"storage 0x{loc[1].hex()}[{hex(loc[2])}]" if loc[0] == STORAGE else text
