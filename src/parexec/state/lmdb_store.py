"""The chain's state on disk: LMDB, embedded, one writer, readers in other
processes each on a consistent snapshot.

A block is committed in one write transaction (its state diff, its header, the
new head and the undo data that takes it back), so a process killed at any point
leaves the store at the last committed block. Undo data is kept for the last
``UNDO_BLOCKS`` blocks: ``rewind`` goes back that far, and a side chain can start
from any of them.

Layout (one LMDB database each): ``accounts`` address -> nonce (8 bytes),
balance (32), code hash (32); ``storage`` address + slot (32) -> value (no
zeros kept); ``code`` hash -> code; ``headers`` block hash -> header RLP;
``canonical`` number (8) -> block hash; ``undo`` number (8) -> the old values of
everything the block changed; ``meta`` ``head`` -> number (8) + block hash;
``nodes`` hash -> encoding of every trie node (content-addressed, kept: a rewind
needs only the older root; parexec.state.stored_trie).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import lmdb

from parexec.model import EMPTY_CODE_HASH, Account, WriteSet
from parexec.state.memory import MemoryState
from parexec.state.writes import apply_writes

UNDO_BLOCKS = 128
DATABASES = ("meta", "accounts", "storage", "code", "headers", "canonical", "undo", "nodes")
MAP_SIZE = 1 << 36  # address space only; the file grows as it fills


class StoreError(Exception):
    """The store cannot do what was asked (no such block, undo data gone...)."""


def _number(n: int) -> bytes:
    return n.to_bytes(8, "big")


def encode_account(acc: Account) -> bytes:
    return acc.nonce.to_bytes(8, "big") + acc.balance.to_bytes(32, "big") + acc.code_hash


def decode_account(data: bytes) -> Account:
    return Account(int.from_bytes(data[:8], "big"), int.from_bytes(data[8:40], "big"), bytes(data[40:72]))


_ENVS: dict[tuple[int, Path], list] = {}  # (pid, path) -> [environment, handles]


def _open_env(path: Path, map_size: int, readonly: bool) -> lmdb.Environment:
    """The process's one environment of ``path``: LMDB must not be opened twice in
    a process (closing either copy drops the other's locks), and a child made by
    fork must open its own instead of using its parent's. Counted: the last
    ``_close_env`` closes it."""
    key = (os.getpid(), Path(path).resolve())
    entry = _ENVS.get(key)
    if entry is None:
        env = lmdb.open(str(path), max_dbs=len(DATABASES), map_size=map_size, readonly=readonly)
        entry = _ENVS[key] = [env, 0]
    elif entry[0].flags()["readonly"] and not readonly:
        raise StoreError(f"{path}: already open read-only in this process")
    entry[1] += 1
    return entry[0]


def _close_env(path: Path) -> None:
    key = (os.getpid(), Path(path).resolve())
    entry = _ENVS[key]
    entry[1] -= 1
    if entry[1] == 0:
        del _ENVS[key]
        entry[0].close()


class LmdbView:
    """A StateView on one read snapshot of the store (complete: the whole state)."""

    complete = True

    def __init__(self, txn: lmdb.Transaction, dbs: dict):
        self.txn, self.dbs = txn, dbs

    def account(self, address: bytes) -> Account | None:
        data = self.txn.get(address, db=self.dbs["accounts"])
        return None if data is None else decode_account(data)

    def storage(self, address: bytes, slot: int) -> int:
        data = self.txn.get(address + slot.to_bytes(32, "big"), db=self.dbs["storage"])
        return 0 if data is None else int.from_bytes(data, "big")

    def code(self, code_hash: bytes) -> bytes:
        if code_hash == EMPTY_CODE_HASH:
            return b""
        data = self.txn.get(code_hash, db=self.dbs["code"])
        if data is None:
            raise KeyError(f"code 0x{code_hash.hex()} is not in the store")
        return bytes(data)

    def has_storage(self, address: bytes) -> bool:
        cursor = self.txn.cursor(db=self.dbs["storage"])
        return cursor.set_range(address) and cursor.key()[:20] == address

    def iter_slots(self, address: bytes):
        """(slot, value) of every non-zero slot of ``address``, in key order."""
        cursor = self.txn.cursor(db=self.dbs["storage"])
        if cursor.set_range(address):
            for key, value in cursor:
                if key[:20] != address:
                    break
                yield int.from_bytes(key[20:], "big"), int.from_bytes(value, "big")

    def nonzero_slots(self, address: bytes) -> dict[int, int]:
        """Every non-zero slot of ``address``."""
        return dict(self.iter_slots(address))

    def load(self) -> MemoryState:
        """The whole state of this snapshot, in memory."""
        state = MemoryState(complete=True)
        for address, data in self.txn.cursor(db=self.dbs["accounts"]):
            state.accounts[bytes(address)] = decode_account(data)
        for key, value in self.txn.cursor(db=self.dbs["storage"]):
            state.slots.setdefault(bytes(key[:20]), {})[int.from_bytes(key[20:], "big")] = int.from_bytes(
                value, "big")
        for code_hash, code in self.txn.cursor(db=self.dbs["code"]):
            state.codes[bytes(code_hash)] = bytes(code)
        return state

    def entries(self, db: str) -> int:
        return self.txn.stat(self.dbs[db])["entries"]

    def close(self) -> None:
        self.txn.abort()


class _Batch(LmdbView):
    """The writes of one block inside a write transaction, in the interface
    ``apply_writes`` writes through, remembering each location's old value."""

    def __init__(self, txn, dbs):
        super().__init__(txn, dbs)
        self.undo: dict[tuple[str, bytes], bytes | None] = {}
        self.codes = self  # apply_writes calls codes.update(new_code)

    def _put(self, db: str, key: bytes, value: bytes | None) -> None:
        if (db, key) not in self.undo:
            old = self.txn.get(key, db=self.dbs[db])
            self.undo[(db, key)] = None if old is None else bytes(old)
        if value is None:
            self.txn.delete(key, db=self.dbs[db])
        else:
            self.txn.put(key, value, db=self.dbs[db])

    def update(self, new_code: dict[bytes, bytes]) -> None:
        for code_hash, code in new_code.items():  # content-addressed: kept for good
            self.txn.put(code_hash, code, db=self.dbs["code"])

    def _put_account(self, address: bytes, acc: Account | None) -> None:
        self._put("accounts", address, None if acc is None else encode_account(acc))

    def _put_slot(self, address: bytes, slot: int, value: int) -> None:
        data = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else None
        self._put("storage", address + slot.to_bytes(32, "big"), data)

    def _wipe_storage(self, address: bytes) -> None:
        for slot in list(self.nonzero_slots(address)):
            self._put_slot(address, slot, 0)


class LmdbStore:
    """The state store of one chain (see the module's docstring)."""

    def __init__(self, path: Path, map_size: int = MAP_SIZE, readonly: bool = False):
        Path(path).mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self.env = _open_env(self.path, map_size, readonly)
        self.dbs = {name: self.env.open_db(name.encode(), create=not readonly) for name in DATABASES}
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _close_env(self.path)

    def load(self) -> MemoryState:
        """The whole state at the head, in memory."""
        view = self.view()
        try:
            return view.load()
        finally:
            view.close()

    def get_meta(self, key: bytes) -> bytes | None:
        with self.env.begin() as txn:
            data = txn.get(key, db=self.dbs["meta"])
        return None if data is None else bytes(data)

    def put_meta(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value, db=self.dbs["meta"])

    def view(self) -> LmdbView:
        """The state at the head, on a snapshot later commits do not change."""
        return LmdbView(self.env.begin(), self.dbs)

    def head(self) -> tuple[int, bytes] | None:
        with self.env.begin() as txn:
            data = txn.get(b"head", db=self.dbs["meta"])
        return None if data is None else (int.from_bytes(data[:8], "big"), bytes(data[8:]))

    def block_hash(self, number: int) -> bytes | None:
        with self.env.begin() as txn:
            data = txn.get(_number(number), db=self.dbs["canonical"])
        return None if data is None else bytes(data)

    def header_rlp(self, block_hash: bytes) -> bytes | None:
        with self.env.begin() as txn:
            data = txn.get(block_hash, db=self.dbs["headers"])
        return None if data is None else bytes(data)

    def trie_node(self, node_hash: bytes) -> bytes | None:
        with self.env.begin() as txn:
            data = txn.get(node_hash, db=self.dbs["nodes"])
        return None if data is None else bytes(data)

    def commit(self, number: int, block_hash: bytes, header_rlp: bytes, diff: WriteSet,
               new_code: dict[bytes, bytes], parent: bytes | None = None, nodes=()) -> None:
        """Block ``number``'s state diff, header, head and new trie nodes (hash,
        node) atomically, with its undo data; with ``parent``, only if the head is
        still that block (StoreError)."""
        with self.env.begin(write=True) as txn:
            for node_hash, node in nodes:
                txn.put(node_hash, node.encoded(), db=self.dbs["nodes"])
            if parent is not None:
                head = txn.get(b"head", db=self.dbs["meta"])
                if head is None or bytes(head[8:]) != parent:
                    raise StoreError(f"block {number}: the store's head is no longer its parent")
            batch = _Batch(txn, self.dbs)
            apply_writes(batch, diff, new_code)
            txn.put(_number(number), pickle.dumps(batch.undo, protocol=5), db=self.dbs["undo"])
            if number >= UNDO_BLOCKS:
                txn.delete(_number(number - UNDO_BLOCKS), db=self.dbs["undo"])
            txn.put(block_hash, header_rlp, db=self.dbs["headers"])
            txn.put(_number(number), block_hash, db=self.dbs["canonical"])
            txn.put(b"head", _number(number) + block_hash, db=self.dbs["meta"])

    def rewind(self, number: int) -> None:
        """Back to block ``number`` (at most UNDO_BLOCKS back), atomically."""
        head = self.head()
        if head is None or number > head[0]:
            raise StoreError(f"cannot rewind to block {number}: the head is {head and head[0]}")
        with self.env.begin(write=True) as txn:
            for n in range(head[0], number, -1):
                data = txn.get(_number(n), db=self.dbs["undo"])
                if data is None:
                    raise StoreError(f"no undo data for block {n} (only the last {UNDO_BLOCKS} are kept)")
                for (db, key), old in pickle.loads(data).items():
                    if old is None:
                        txn.delete(key, db=self.dbs[db])
                    else:
                        txn.put(key, old, db=self.dbs[db])
                txn.delete(_number(n), db=self.dbs["undo"])
                txn.delete(_number(n), db=self.dbs["canonical"])
            block_hash = txn.get(_number(number), db=self.dbs["canonical"])
            txn.put(b"head", _number(number) + bytes(block_hash), db=self.dbs["meta"])
