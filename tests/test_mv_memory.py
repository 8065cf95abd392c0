"""Multi-version memory's balance reads against a plain recomputation, under
writes recorded in any order, re-recorded, removed and marked ESTIMATE (the
running-balance cache must never serve a stale sum)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parexec.model import BALANCE, BALANCE_DELTA
from parexec.parallel.mv_memory import MVMemory, ReadEstimate
from parexec.state.memory import MemoryState

A = b"\xaa" * 20
BASE_BALANCE = 10**6
TXS = 12

# an operation on tx's entry at A's balance
ops = st.lists(
    st.tuples(
        st.sampled_from(["delta", "absolute", "remove", "estimate", "read"]),
        st.integers(0, TXS - 1),
        st.integers(-1000, 1000),
    ),
    max_size=60,
)


def expected(entries: dict[int, tuple], tx: int):
    """A's balance as tx reads it: the base or the last absolute value below tx,
    plus the deltas since; an ESTIMATE since that absolute value makes it wait."""
    value, estimate = BASE_BALANCE, False
    for writer in sorted(w for w in entries if w < tx):
        kind, amount = entries[writer]
        if kind == "absolute":
            value, estimate = amount, False
        elif kind == "delta":
            value += amount
        else:
            estimate = True
    return ReadEstimate if estimate else value


def check(mv, entries, reader):
    want = expected(entries, reader)
    if want is ReadEstimate:
        with pytest.raises(ReadEstimate):
            mv.field(BALANCE, A, reader)
    else:
        assert mv.field(BALANCE, A, reader) == want, (reader, entries)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_balance_reads_match_a_plain_recomputation(operations):
    base = MemoryState()
    base.set_account(A, balance=BASE_BALANCE)
    mv = MVMemory(base)
    entries: dict[int, tuple] = {}
    for op, tx, amount in operations:
        if op == "delta":
            mv.record(tx, {(BALANCE_DELTA, A): amount}, {})
            entries[tx] = ("delta", amount)
        elif op == "absolute":
            mv.record(tx, {(BALANCE, A): amount + 5000}, {})
            entries[tx] = ("absolute", amount + 5000)
        elif op == "remove":  # a new incarnation that writes nothing there
            mv.record(tx, {}, {})
            entries.pop(tx, None)
        elif op == "estimate":
            if tx in entries:
                mv.mark_estimate(tx)
                entries[tx] = ("estimate", 0)
        elif op == "read":  # builds part of the cache, which later writes must cut
            check(mv, entries, tx)
    for reader in range(TXS + 1):
        check(mv, entries, reader)


def test_an_account_no_writer_touches_is_the_bases_own():
    """A read of an account none of whose fields any transaction wrote is the
    base's account itself (the common case, without a lazy account); a written
    one is seen through the writes below the reader (a deletion: gone), and an
    account only whose storage is written stays the base's."""
    from parexec.model import EXISTS, NONCE, STORAGE

    B, C = b"\xbb" * 20, b"\xcc" * 20
    base = MemoryState()
    for address in (A, B, C):
        base.set_account(address, nonce=1, balance=BASE_BALANCE)
    mv = MVMemory(base)
    mv.record(3, {(NONCE, A): 7, (STORAGE, C, 1): 5}, {})
    mv.record(5, {(EXISTS, B): False}, {})
    assert mv.view(9).account(C) is base.account(C)
    assert mv.view(2).account(A).nonce == 1 and mv.view(4).account(A).nonce == 7
    assert mv.view(5).account(B).balance == BASE_BALANCE and mv.view(6).account(B) is None
    mv.mark_estimate(3)
    with pytest.raises(ReadEstimate):
        mv.view(4).account(A).nonce
