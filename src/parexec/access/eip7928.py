"""EIP-7928 block access lists: the format, its encoding and its rules.

Followed: the EIP's text at ethereum/EIPs f767a1e (2026-08-22, status Review),
with the RLP layout of the execution specification's amsterdam module
(``forks/amsterdam/block_access_lists/rlp_types.py`` and ``rlp_utils.py``).
A list is the accounts a block touched, each with what it left at every
*block access index*: 0 for the pre-execution system calls, 1..n for the
transactions, n+1 for withdrawals and the post-execution system calls:

    BlockAccessList = [AccountChanges, ...]          by address
    AccountChanges  = [address, storage_changes, storage_reads,
                       balance_changes, nonce_changes, code_changes]
    storage_changes = [[slot, [[index, value], ...]], ...]   by slot, then index
    storage_reads   = [slot, ...]                    by slot; never a changed slot
    *_changes       = [[index, post-value], ...]     by index, each index once

Integers are RLP integers (big-endian, no leading zeros), addresses 20 bytes,
code raw bytes. The list's hash is keccak256 of its encoding. Its size is capped
by its block's gas: at most gas limit / ITEM_COST items (addresses plus storage
keys, changed or read; see ``item_cap``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import rlp
import rusty_rlp
from eth_hash.auto import keccak

from parexec.evm import strict_rlp
from parexec.model import BALANCE, CODE, NONCE, STORAGE, FixtureError

MAX_CODE_SIZE = 24_576  # as the amsterdam module bounds a code change
ITEM_COST = 2_000  # the EIP's gas per listed item (an address or a storage key): its size cap


class InvalidAccessList(ValueError):
    """A list that breaks the format's rules, or does not fit its block."""


def item_cap(block) -> int | None:
    """The most items (addresses plus storage keys) ``block``'s list may hold: its
    gas limit over ITEM_COST, or None (no cap) before Berlin. The EIP rests the
    cap on access prices (a cold storage read costs 2,100 gas since EIP-2929, an
    account 2,600), so from Berlin on an exact list keeps within it; before, an
    access could cost 20-800 gas, and exact lists of real blocks exceed it
    (mainnet 2462997, Homestead: 1,942 items against a cap of 249)."""
    from parexec.block.validation import fork_lineage

    if "berlin" not in fork_lineage(block.vm_class):
        return None
    return block.header.gas_limit // ITEM_COST


def check_size(items: int, cap: int | None) -> None:
    """InvalidAccessList if ``items`` (addresses plus storage keys) is over ``cap``."""
    if cap is not None and items > cap:
        raise InvalidAccessList(f"{items:,} items (addresses and storage keys), over the block's cap of "
                                f"{cap:,} (its gas limit over {ITEM_COST:,})")


@dataclass(frozen=True)
class AccountChanges:
    address: bytes
    storage_changes: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = ()  # (slot, ((index, value), ...))
    storage_reads: tuple[int, ...] = ()
    balance_changes: tuple[tuple[int, int], ...] = ()  # (index, post-balance)
    nonce_changes: tuple[tuple[int, int], ...] = ()
    code_changes: tuple[tuple[int, bytes], ...] = ()

    def to_rlp(self) -> list:
        return [self.address,
                [[slot, [[i, v] for i, v in changes]] for slot, changes in self.storage_changes],
                list(self.storage_reads),
                [[i, v] for i, v in self.balance_changes],
                [[i, v] for i, v in self.nonce_changes],
                [[i, c] for i, c in self.code_changes]]


@dataclass(frozen=True)
class BlockAccessList:
    accounts: tuple[AccountChanges, ...] = field(default_factory=tuple)

    def encode(self) -> bytes:
        """The RLP (kept: a decoded list keeps what it was decoded from, which is
        what a block's list travels to the workers as)."""
        encoded = self.__dict__.get("_rlp")
        if encoded is None:
            encoded = self.__dict__["_rlp"] = rlp.encode([a.to_rlp() for a in self.accounts])
        return encoded

    def hash(self) -> bytes:
        return keccak(self.encode())

    def items(self) -> int:
        """What the EIP's size cap counts: addresses plus storage keys (changed or read)."""
        return len(self.accounts) + sum(len(a.storage_changes) + len(a.storage_reads) for a in self.accounts)

    def check(self, transactions: int | None = None, cap: int | None = None) -> None:
        """Raise InvalidAccessList unless the ordering and uniqueness rules hold
        and, for a block of ``transactions``, every index is at most n+1 and (with
        ``cap``, see ``item_cap``) the list holds at most ``cap`` items."""
        check_size(self.items(), cap)
        top = None if transactions is None else transactions + 1
        addresses = [a.address for a in self.accounts]
        _strictly_increasing(addresses, "accounts", lambda a: "0x" + a.hex())
        for account in self.accounts:
            who = "0x" + account.address.hex()
            slots = [slot for slot, _ in account.storage_changes]
            _strictly_increasing(slots, f"{who}: storage_changes", hex)
            _strictly_increasing(list(account.storage_reads), f"{who}: storage_reads", hex)
            both = set(slots) & set(account.storage_reads)
            if both:
                raise InvalidAccessList(f"{who}: slot {hex(min(both))} is both changed and read")
            for slot, changes in account.storage_changes:
                if not changes:
                    raise InvalidAccessList(f"{who}: slot {hex(slot)} has no change")
                _indices([i for i, _ in changes], f"{who}: slot {hex(slot)}", top)
            for name in ("balance_changes", "nonce_changes", "code_changes"):
                _indices([i for i, _ in getattr(account, name)], f"{who}: {name}", top)
            for index, code in account.code_changes:
                if len(code) > MAX_CODE_SIZE:
                    raise InvalidAccessList(f"{who}: code change at index {index} is {len(code)} bytes, "
                                            f"over {MAX_CODE_SIZE}")

    def to_json(self) -> list:
        """A readable view (hex strings), for people; the RLP is the list."""
        return [{"address": "0x" + a.address.hex(),
                 "storage_changes": [{"slot": hex(s), "changes": [[i, hex(v)] for i, v in c]}
                                     for s, c in a.storage_changes],
                 "storage_reads": [hex(s) for s in a.storage_reads],
                 "balance_changes": [[i, hex(v)] for i, v in a.balance_changes],
                 "nonce_changes": [[i, v] for i, v in a.nonce_changes],
                 "code_changes": [[i, "0x" + c.hex()] for i, c in a.code_changes]}
                for a in self.accounts]

    def json_text(self) -> str:
        """The JSON view, an account a line."""
        return "[\n" + ",\n".join(json.dumps(a) for a in self.to_json()) + "\n]\n"

    def final_values(self) -> dict:
        """Each changed location's value after the block, keyed as a write set is
        ((BALANCE, address), (NONCE, address), (CODE, address) -> code,
        (STORAGE, address, slot)): what the block's post-state is built from."""
        final = {}
        for a in self.accounts:
            for kind, changes in ((BALANCE, a.balance_changes), (NONCE, a.nonce_changes), (CODE, a.code_changes)):
                if changes:
                    final[(kind, a.address)] = changes[-1][1]
            for slot, changes in a.storage_changes:
                final[(STORAGE, a.address, slot)] = changes[-1][1]
        return final


@dataclass(frozen=True)
class EncodedList:
    """A block's EIP-7928 list as it arrives: its RLP and where it came from (and,
    for a list made in memory, the list itself). ``bal`` hands the bytes to its
    workers and enters them as memory itself (parallel.list_memory), so all
    decode at once; ``decode`` is for everything else, and names the fault of a
    list that breaks a rule."""

    rlp: bytes
    source: str
    decoded: BlockAccessList | None = None

    @classmethod
    def of(cls, access_list: BlockAccessList) -> "EncodedList":
        return cls(access_list.encode(), "the given list", access_list)

    def decode_for(self, block) -> BlockAccessList:
        """The list, its encoding and rules checked for ``block`` (see ``decode``)."""
        return self.decode(len(block.transactions), item_cap(block))

    def decode(self, transactions: int, cap: int | None = None) -> BlockAccessList:
        """The list, its encoding and rules checked for a block of ``transactions``
        (and with ``cap``, its size: see ``item_cap``). Raises FixtureError naming
        the source and the fault."""
        try:
            access_list = self.decoded if self.decoded is not None else decode(self.rlp)
            access_list.check(transactions, cap)
        except InvalidAccessList as exc:
            raise FixtureError(f"{self.source}: not a valid EIP-7928 list: {exc}") from None
        return access_list


def decode(data: bytes) -> BlockAccessList:
    """A list from its RLP; raises InvalidAccessList on bad encoding (the rules are
    ``check``'s)."""
    try:
        items = strict_rlp.decode(bytes(data))  # canonical RLP only
    except rusty_rlp.DecodingError as exc:
        raise InvalidAccessList(f"not RLP: {exc}") from None
    if not isinstance(items, list):
        raise InvalidAccessList("not a list of accounts")
    decoded = BlockAccessList(tuple(_account(item, k) for k, item in enumerate(items)))
    decoded.__dict__["_rlp"] = bytes(data)
    return decoded


def _account(item, k: int) -> AccountChanges:
    fields = _list(item, f"account {k}", 6)
    address = fields[0]
    if not isinstance(address, bytes) or len(address) != 20:
        raise InvalidAccessList(f"account {k}: the address is not 20 bytes")
    where = "0x" + address.hex()
    storage_changes = []
    for s, entry in enumerate(_list(fields[1], f"{where}: storage_changes")):
        slot_item, changes = _list(entry, f"{where}: storage_changes[{s}]", 2)
        slot = _int(slot_item, f"{where}: a slot", 256)
        storage_changes.append((slot, _pairs(changes, f"{where}: slot {hex(slot)}", 256, _int)))
    reads = tuple(_int(s, f"{where}: storage_reads", 256) for s in _list(fields[2], f"{where}: storage_reads"))
    balances = _pairs(fields[3], f"{where}: balance_changes", 256, _int)
    nonces = _pairs(fields[4], f"{where}: nonce_changes", 64, _int)
    codes = _pairs(fields[5], f"{where}: code_changes", 0, _code)
    return AccountChanges(address, tuple(storage_changes), reads, balances, nonces, codes)


def _list(item, where: str, length: int | None = None) -> list:
    if not isinstance(item, list):
        raise InvalidAccessList(f"{where}: a byte string where a list belongs")
    if length is not None and len(item) != length:
        raise InvalidAccessList(f"{where}: {len(item)} fields, not {length}")
    return item


def _pairs(item, where: str, bits: int, value_of) -> tuple:
    """[[index, value], ...] as ((index, value), ...): the common case in one
    tight loop (a list holds thousands), each fault named by the slow path."""
    out = []
    append = out.append
    for pair in _list(item, where):
        if type(pair) is list and len(pair) == 2:
            index, value = pair
            if (type(index) is bytes and index[:1] != b"\x00" and len(index) <= 4 and type(value) is bytes
                    and value_of is _int and value[:1] != b"\x00" and len(value) * 8 <= bits):
                append((int.from_bytes(index, "big"), int.from_bytes(value, "big")))
                continue
        pair = _list(pair, where, 2)
        append((_int(pair[0], where, 32), value_of(pair[1], where, bits)))
    return tuple(out)


def _code(item, where: str, _bits: int) -> bytes:
    if not isinstance(item, bytes):
        raise InvalidAccessList(f"{where}: the code is not a byte string")
    return item


def _int(item, where: str, bits: int) -> int:
    """An RLP integer: bytes without leading zeros (zero is empty), within ``bits``."""
    if not isinstance(item, bytes):
        raise InvalidAccessList(f"{where}: a list where an integer belongs")
    if item[:1] == b"\x00":
        raise InvalidAccessList(f"{where}: an integer with leading zero bytes")
    value = int.from_bytes(item, "big")
    if value >> bits:
        raise InvalidAccessList(f"{where}: {hex(value)} does not fit {bits} bits")
    return value


def _strictly_increasing(values: list, what: str, show) -> None:
    for a, b in zip(values, values[1:]):
        if a >= b:
            raise InvalidAccessList(f"{what}: {show(b)} after {show(a)} (out of order, or twice)")


def _indices(indices: list[int], what: str, top: int | None) -> None:
    _strictly_increasing(indices, what, str)
    if top is not None and indices and indices[-1] > top:
        raise InvalidAccessList(f"{what}: index {indices[-1]} beyond the block (at most {top})")
