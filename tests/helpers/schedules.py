"""Shared checks for schedule tests: any dependency order works, deps are receives."""

from __future__ import annotations

import random

from hypothesis import strategies as st

from fabrictwin.traffic.collectives import random_order, verify

ranks = st.integers(min_value=1, max_value=20)
sizes = st.integers(min_value=0, max_value=1 << 22)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def full(n: int) -> frozenset[int]:
    return frozenset(range(n))


def check_orders(schedule, seed: int, orders: int = 4):
    """Agents run sends as soon as their deps are in: any dependency order must work."""
    rng = random.Random(seed)
    final = verify(schedule)
    for _ in range(orders):
        assert verify(schedule, random_order(schedule, rng)) == final
    return final


def check_deps(schedule) -> None:
    """Every dependency is a receive at the sender, from an earlier step."""
    step_of = {t.id: i for i, step in enumerate(schedule.steps) for t in step}
    by_id = {t.id: t for t in schedule.transfers}
    for t in schedule.transfers:
        for d in t.deps:
            assert by_id[d].dst == t.src
            assert step_of[d] < step_of[t.id]


def assert_even_share(sent: list[int], chunks_per_rank: int, chunk_bytes: tuple[int, ...]
                      ) -> None:
    """Every rank sends ``chunks_per_rank`` chunks: exactly that many of the buffer's
    chunks when they are equal, within the smallest and largest chunk when not."""
    lo, hi = min(chunk_bytes), max(chunk_bytes)
    assert hi - lo <= 1  # the buffer is split as evenly as bytes allow
    assert all(chunks_per_rank * lo <= b <= chunks_per_rank * hi for b in sent), sent
