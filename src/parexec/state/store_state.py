"""The state a chain's next block executes on: a read snapshot of the store plus
the diffs of the blocks executed but not committed yet (pipelining: block N+1
runs while N's root is computed and N is written).

It pickles as the store's folder and those diffs, so a worker process reopens
the store and reads committed state straight from its own snapshot: nothing of
the state is copied to it, and its memory does not grow with the state.

A snapshot taken later than the diffs' blocks is still right: a diff holds final
values, so applying again one that is already committed changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from parexec.model import Account, WriteSet
from parexec.state.lmdb_store import LmdbStore
from parexec.state.memory import MemoryState
from parexec.state.overlay import OverlayState

Pending = tuple[tuple[WriteSet, dict[bytes, bytes]], ...]  # (diff, new code) of each block, oldest first


class StoreState:
    """A StateView (complete: the whole state) of the store at ``path`` with
    ``pending`` block diffs on top. Reads are cached: a snapshot never changes."""

    complete = True
    # py-lmdb refuses to open a store in a process that inherited it open (fork),
    # and closing the inherited copy would clobber the parent's reader slots: worker
    # processes that read a store start from a fresh process (parexec.parallel.worker_pool)
    start_method = "forkserver"

    def __init__(self, path: Path, pending: Pending = ()):
        self.path, self.pending = Path(path), tuple(pending)
        self._open()

    def _open(self) -> None:
        self._store = LmdbStore(self.path)
        self._snapshot = self._store.view()
        self._view = OverlayState(self._snapshot)
        for diff, new_code in self.pending:
            self._view.apply(diff, new_code)
        self._accounts: dict[bytes, Account | None] = {}
        self._slots: dict[tuple[bytes, int], int] = {}

    def close(self) -> None:
        if self._store is not None:
            self._snapshot.close()
            self._store.close()
            self._store = None

    def __del__(self):
        self.close()

    def __getstate__(self):
        return {"path": self.path, "pending": self.pending}

    def __setstate__(self, state):
        self.path, self.pending = state["path"], state["pending"]
        self._open()

    # StateView
    def account(self, address: bytes) -> Account | None:
        try:
            return self._accounts[address]
        except KeyError:
            acc = self._accounts[address] = self._view.account(address)
            return acc

    def storage(self, address: bytes, slot: int) -> int:
        key = (address, slot)
        try:
            return self._slots[key]
        except KeyError:
            value = self._slots[key] = self._view.storage(address, slot)
            return value

    def code(self, code_hash: bytes) -> bytes:
        return self._view.code(code_hash)

    def has_storage(self, address: bytes) -> bool:
        view = self._view
        written = view.slots.get(address, {})
        if any(written.values()):
            return True
        if address in view.wiped:
            return False
        return any(slot not in written for slot, _ in self._snapshot.iter_slots(address))

    def nonzero_slots(self, address: bytes) -> dict[int, int]:
        """Every non-zero slot of ``address``."""
        view = self._view
        slots = {} if address in view.wiped else self._snapshot.nonzero_slots(address)
        slots.update(view.slots.get(address, {}))
        return {slot: value for slot, value in slots.items() if value}

    def derive(self, diff: WriteSet, new_code: dict[bytes, bytes]) -> "StoreState":
        """The state after one more block (on a new snapshot)."""
        return StoreState(self.path, self.pending + ((diff, new_code),))

    def copy(self) -> MemoryState:
        """The whole state in memory (pre-Byzantium receipts need a root after
        every transaction)."""
        state = self._snapshot.load()
        for diff, new_code in self.pending:
            state.apply(diff, new_code)
        return state
