"""Dependencies from footprints at account and slot granularity, on hand-built
transactions whose conflicts are known."""

from __future__ import annotations

import pytest

from parexec.access.dependencies import dependencies
from parexec.access.footprint import Footprint
from parexec.model import BALANCE, BALANCE_DELTA, BALANCE_FLOOR, CODE, NONCE, STORAGE

TOKEN, CB = b"\x70" * 20, b"\xc0" * 20
A, B, C, D = (bytes([i]) * 20 for i in (1, 2, 3, 4))


def fp(reads=(), writes=(), sender=None):
    return Footprint(frozenset(reads), frozenset(writes), sender)


def transfer(sender, frm_slot, to_slot):
    """A token transfer: the sender's nonce and fee, two balance slots of TOKEN."""
    return fp(
        reads={(NONCE, sender), (BALANCE_FLOOR, sender), (CODE, TOKEN),
               (STORAGE, TOKEN, frm_slot), (STORAGE, TOKEN, to_slot)},
        writes={(NONCE, sender), (BALANCE_DELTA, sender), (BALANCE_DELTA, CB),
                (STORAGE, TOKEN, frm_slot), (STORAGE, TOKEN, to_slot)},
        sender=sender,
    )


def test_token_transfers_between_distinct_holders_conflict_only_per_account():
    txs = [transfer(A, 1, 2), transfer(B, 3, 4), transfer(C, 2, 5)]
    # all write TOKEN: each waits for the last writer before it (and so, transitively, all)
    assert dependencies(txs, "account") == [set(), {0}, {1}]
    # per slot: only tx 2 touches a slot of an earlier one (holder 2, written by tx 0)
    assert dependencies(txs, "slot") == [set(), set(), {0}]
    assert dependencies(txs, "slot", rule="data") == [set(), set(), {0}]


def test_fee_deltas_and_credits_commute():
    pay = [fp(writes={(BALANCE_DELTA, CB), (BALANCE_DELTA, D)}) for _ in range(3)]
    for granularity in ("account", "slot"):
        assert dependencies(pay, granularity) == [set(), set(), set()]


def test_an_exact_balance_read_or_write_waits_for_the_credits_before_it():
    txs = [
        fp(writes={(BALANCE_DELTA, D)}),
        fp(writes={(BALANCE_DELTA, D)}),
        fp(reads={(BALANCE, D)}, writes={(BALANCE, D)}),  # observes D: sees both credits
        fp(writes={(BALANCE_DELTA, D)}, sender=D),  # D's own payment: a debit
        fp(reads={(BALANCE_FLOOR, D)}, sender=D),  # a floor: not held back by its own debits
        fp(writes={(BALANCE, D)}),  # an exact write after a credit: the credit must land first
    ]
    for granularity in ("account", "slot"):
        for rule in ("locks", "data"):
            deps = dependencies(txs, granularity, rule)
            assert deps[:5] == [set(), set(), {0, 1}, set(), {2}], (granularity, rule)
            assert {2, 3} <= deps[5]


def test_a_predicted_nonce_is_no_dependency():
    """One sender's payouts: the nonce chains them unless it is predicted."""
    payouts = [fp(reads={(NONCE, A), (BALANCE_FLOOR, A)},
                  writes={(NONCE, A), (BALANCE_DELTA, A), (BALANCE_DELTA, B)}, sender=A) for _ in range(3)]
    assert dependencies(payouts, "slot", "data") == [set(), {0}, {1}]
    assert dependencies(payouts, "slot", "data", predict_nonces=True) == [set(), set(), set()]


def test_a_nonce_another_transaction_bumped_is_no_longer_predicted():
    """An EIP-7702 authorization (tx 1, sent by B) bumps A's nonce: A's own
    transactions after it wait for it, and each for the one before."""
    own = fp(reads={(NONCE, A)}, writes={(NONCE, A)}, sender=A)
    authorization = fp(reads={(NONCE, A)}, writes={(NONCE, A), (NONCE, B)}, sender=B)
    assert dependencies([own, authorization, own, own], "slot", "data", predict_nonces=True) == \
        [set(), {0}, {1}, {2}]


def test_a_floor_waits_for_credits_but_not_for_its_own_senders_debits():
    txs = [
        fp(writes={(BALANCE_DELTA, A)}, sender=A),  # A's own payment: a debit
        fp(writes={(BALANCE_DELTA, A)}, sender=B),  # B pays A: a credit
        fp(reads={(BALANCE_FLOOR, A)}, sender=A),  # A spends
        fp(writes={(BALANCE_DELTA, A)}),  # unknown sender: counts as a credit
        fp(reads={(BALANCE_FLOOR, A)}, sender=A),
    ]
    assert dependencies(txs, "slot", "data") == [set(), set(), {1}, set(), {1, 3}]


def test_read_locks_share_and_a_writer_waits_for_readers_under_locks_only():
    txs = [fp(reads={(STORAGE, TOKEN, 1)}), fp(reads={(STORAGE, TOKEN, 1)}),
           fp(writes={(STORAGE, TOKEN, 1)}), fp(reads={(STORAGE, TOKEN, 1)})]
    assert dependencies(txs, "slot", rule="locks") == [set(), set(), {0, 1}, {2}]
    assert dependencies(txs, "slot", rule="data") == [set(), set(), set(), {2}]


def test_unknown_granularity_is_refused():
    with pytest.raises(ValueError, match="granularity"):
        dependencies([], "byte")
