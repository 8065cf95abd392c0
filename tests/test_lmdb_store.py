"""The LMDB state store: the same state as MemoryState after every block, undo,
snapshots, reopening, atomic commits, readers in other processes."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from parexec.model import BALANCE, CODE, EXISTS, NONCE, STORAGE, STORAGE_RESET, Account
from parexec.state.lmdb_store import LmdbStore, StoreError
from parexec.state.memory import MemoryState
from parexec.state.writes import creation_writes

ADDRESSES = [bytes([i]) * 20 for i in range(1, 13)]


def _genesis() -> MemoryState:
    state = MemoryState()
    for i, address in enumerate(ADDRESSES[:6]):
        state.set_account(address, nonce=i, balance=10**18 * i, code=b"\x60\x00" * i,
                          storage={s: s * 7 + i for s in range(i)})
    return state


def _random_diff(rng: random.Random, state: MemoryState) -> dict:
    diff = {}
    for address in rng.sample(ADDRESSES, 5):
        exists = state.account(address) is not None
        roll = rng.random()
        if exists and roll < 0.15:
            diff[(EXISTS, address)] = False
            continue
        if not exists:
            diff[(EXISTS, address)] = True
        elif roll < 0.25 and state.has_storage(address):
            diff[(STORAGE_RESET, address)] = True
        diff[(NONCE, address)] = rng.randrange(100)
        diff[(BALANCE, address)] = rng.randrange(2**80)
        if rng.random() < 0.3:
            diff[(CODE, address)] = bytes([rng.randrange(256)]) * 32
        for _ in range(rng.randrange(4)):
            diff[(STORAGE, address, rng.randrange(6))] = rng.choice([0, rng.randrange(1, 2**256)])
    return diff


def _assert_same(store: LmdbStore, state: MemoryState) -> None:
    view = store.view()
    try:
        for address in ADDRESSES:
            assert view.account(address) == state.account(address), address.hex()
            assert view.has_storage(address) == state.has_storage(address)
            assert view.nonzero_slots(address) == {s: v for s, v in state.slots.get(address, {}).items() if v}
            for slot in range(6):
                assert view.storage(address, slot) == state.storage(address, slot)
    finally:
        view.close()


def _block_hash(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_every_block_and_every_rewind_give_memory_states_result(tmp_path):
    rng = random.Random(3)
    state = _genesis()
    store = LmdbStore(tmp_path / "db")
    store.commit(0, _block_hash(0), b"genesis", creation_writes(state), {})
    _assert_same(store, state)
    history = [state.copy()]
    for n in range(1, 25):
        diff = _random_diff(rng, state)
        state.apply(diff, {})
        store.commit(n, _block_hash(n), b"header %d" % n, diff, {})
        _assert_same(store, state)
        history.append(state.copy())
    assert store.head() == (24, _block_hash(24))
    for n in (20, 11, 0):
        store.rewind(n)
        assert store.head() == (n, _block_hash(n))
        assert store.block_hash(n + 1) is None
        _assert_same(store, history[n])
    with pytest.raises(StoreError):
        store.rewind(5)  # ahead of the head


def test_a_snapshot_does_not_see_later_commits(tmp_path):
    store = LmdbStore(tmp_path / "db")
    state = _genesis()
    store.commit(0, _block_hash(0), b"", creation_writes(state), {})
    before = store.view()
    store.commit(1, _block_hash(1), b"", {(BALANCE, ADDRESSES[1]): 5}, {})
    assert before.account(ADDRESSES[1]).balance == 10**18
    now = store.view()
    assert now.account(ADDRESSES[1]).balance == 5
    before.close(), now.close()


def test_a_failed_commit_leaves_the_store_at_its_parent(tmp_path):
    store = LmdbStore(tmp_path / "db")
    state = _genesis()
    store.commit(0, _block_hash(0), b"", creation_writes(state), {})
    bad = {(BALANCE, ADDRESSES[0]): 1, (NONCE, ADDRESSES[2]): 2**64}  # a nonce beyond 8 bytes
    with pytest.raises(OverflowError):
        store.commit(1, _block_hash(1), b"", bad, {})
    assert store.head() == (0, _block_hash(0))
    _assert_same(store, state)


def test_code_and_headers_persist_across_reopening(tmp_path):
    store = LmdbStore(tmp_path / "db")
    code = b"\x60\x01\x60\x00\x55"
    from eth_hash.auto import keccak

    state = MemoryState()
    state.set_account(ADDRESSES[0], nonce=1, balance=2, code=code)
    store.commit(0, _block_hash(0), b"genesis header", creation_writes(state), {keccak(code): code})
    store.close()
    again = LmdbStore(tmp_path / "db")
    view = again.view()
    assert view.account(ADDRESSES[0]) == Account(1, 2, keccak(code))
    assert view.code(keccak(code)) == code
    assert again.header_rlp(_block_hash(0)) == b"genesis header"
    view.close()


def _read_balance(path, address, queue):
    store = LmdbStore(path, readonly=True)
    view = store.view()
    queue.put(view.account(address).balance)
    view.close()


def test_a_reader_in_another_process_sees_the_committed_state(tmp_path):
    store = LmdbStore(tmp_path / "db")
    store.commit(0, _block_hash(0), b"", creation_writes(_genesis()), {})
    queue = multiprocessing.get_context("spawn").Queue()
    reader = multiprocessing.get_context("spawn").Process(
        target=_read_balance, args=(tmp_path / "db", ADDRESSES[3], queue))
    reader.start()
    assert queue.get(timeout=60) == 3 * 10**18
    reader.join(timeout=60)
    assert reader.exitcode == 0


def _diffs_from(state: MemoryState, first: int, count: int):
    """Block n's diff (n from ``first``), deterministic for n and the state before it."""
    for n in range(first, first + count):
        diff = _random_diff(random.Random(n), state)
        state.apply(diff, {})
        yield n, diff


def _commit_blocks(path, count):
    store = LmdbStore(path)
    number, _ = store.head()
    state = store.load()
    for n, diff in _diffs_from(state, number + 1, count):
        store.commit(n, _block_hash(n), b"header %d" % n, diff, {})


def test_a_writer_killed_anywhere_leaves_its_last_commit_whole(tmp_path):
    """SIGKILL a process committing blocks, at random points, five times over: each
    time the store opens at a committed block whose state is exactly the replayed
    one, and the next writer continues from there."""
    import os
    import signal
    import time

    db = tmp_path / "db"
    store = LmdbStore(db)
    store.commit(0, _block_hash(0), b"", creation_writes(_genesis()), {})
    store.close()
    rng = random.Random(2)
    heads = []
    context = multiprocessing.get_context("spawn")
    for _ in range(5):
        writer = context.Process(target=_commit_blocks, args=(db, 100_000))
        writer.start()
        time.sleep(rng.uniform(1.0, 2.5))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        store = LmdbStore(db)
        number, block_hash = store.head()
        assert block_hash == _block_hash(number) and store.block_hash(number) == block_hash
        expected = _genesis()
        for _ in _diffs_from(expected, 1, number):
            pass
        _assert_same(store, expected)
        store.close()
        heads.append(number)
    assert heads == sorted(heads) and heads[-1] > heads[0] > 0, heads  # each writer got on


def test_a_store_state_with_pending_diffs_reads_as_the_state_after_them(tmp_path):
    """StoreState (what a chain's blocks execute on): a snapshot plus the diffs of
    blocks not yet committed reads exactly like the state after them, whether or
    not some of those diffs are committed meanwhile, and survives pickling (a
    worker reopens the store)."""
    import pickle

    from parexec.state.store_state import StoreState

    rng = random.Random(5)
    state = _genesis()
    store = LmdbStore(tmp_path / "db")
    store.commit(0, b"\x00" * 32, b"header 0", creation_writes(state), {})
    pending = []
    for number in range(1, 13):
        diff = _random_diff(rng, state)
        code = {bytes([number]) * 32: bytes([number]) * 3}
        state = state.derive(diff, code)
        pending.append((number, diff, code))
        if rng.random() < 0.5:  # the committer catches up with some of them
            for n, d, c in pending[: rng.randint(1, len(pending))]:
                if store.head()[0] < n:
                    store.commit(n, bytes([n]) * 32, b"header", d, c)
        since = store.head()[0] - rng.randint(0, 2)  # some committed diffs may come again
        view = StoreState(tmp_path / "db", tuple((d, c) for n, d, c in pending if n > since))
        for candidate in (view, pickle.loads(pickle.dumps(view))):
            for address in ADDRESSES:
                assert candidate.account(address) == state.account(address)
                assert candidate.has_storage(address) == state.has_storage(address)
                assert candidate.nonzero_slots(address) == {s: v for s, v in state.slots.get(address, {}).items() if v}
                for slot in range(6):
                    assert candidate.storage(address, slot) == state.storage(address, slot)
            copy = candidate.copy()
            assert copy.accounts == state.accounts
            candidate.close()
    store.close()
