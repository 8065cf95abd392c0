"""The all-at-once loop's hand-out (parallel/all_at_once.py): heaviest first,
every transaction exactly once, heavy ones alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parexec.parallel.all_at_once import CHUNK, OWN_SHARE, Dispenser


@given(gas=st.lists(st.integers(21_000, 30_000_000), min_size=1, max_size=300), workers=st.integers(2, 64),
       fronts=st.lists(st.integers(0, 3), max_size=400))
def test_every_transaction_is_handed_out_once_heaviest_first(gas, workers, fronts):
    plan = Dispenser(gas, workers)
    handed: list[int] = []
    chunks = []
    for step in fronts + [1] * (2 * len(gas)):  # the coordinator takes 0-3 turns of its own between top-ups
        for _ in range(step):
            if plan.front < plan.back:
                left = plan.back - plan.front
                own = plan.take_own()  # a few from the light end, never the bulk of what is left
                assert 1 <= len(own) <= max(1, min(plan.chunk // OWN_SHARE, left // 4))
                assert own == plan.order[plan.front - len(own):plan.front]
                handed.extend(own)
        chunk = plan.take_chunk()
        if chunk:
            chunks.append(chunk)
            handed.extend(chunk)
        if plan.front >= plan.back:
            break
    assert sorted(handed) == list(range(len(gas)))  # each once
    heaviest_first = [j for chunk in chunks for j in reversed(chunk)]
    assert [gas[j] for j in heaviest_first] == sorted((gas[j] for j in heaviest_first), reverse=True)
    for chunk in chunks:
        assert len(chunk) <= CHUNK
        assert len(chunk) == 1 or sum(gas[j] for j in chunk) <= plan.budget  # a heavy one travels alone


def test_ties_keep_block_order():
    assert Dispenser([50_000, 21_000, 50_000, 21_000], 2).order == [1, 3, 0, 2]
