"""Fractional-index positions."""

import random

import pytest

from orbitask.core.errors import InvalidPosition
from orbitask.core.ordering import between, is_valid


def test_between_orders_strictly() -> None:
    first = between(None, None)
    after = between(first, None)
    before = between(None, first)
    middle = between(first, after)
    assert before < first < middle < after
    assert all(is_valid(k) for k in (first, after, before, middle))


def test_many_inserts_at_random_places_stay_sorted_and_unique() -> None:
    rng = random.Random(7)
    keys = [between(None, None)]
    for _ in range(2000):
        i = rng.randrange(len(keys) + 1)
        left = keys[i - 1] if i > 0 else None
        right = keys[i] if i < len(keys) else None
        keys.insert(i, between(left, right))
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_repeated_inserts_at_the_front_keep_keys_short() -> None:
    key = between(None, None)
    for _ in range(1000):
        key = between(None, key)
    assert len(key) < 20


def test_reversed_neighbours_are_refused() -> None:
    a = between(None, None)
    b = between(a, None)
    with pytest.raises(InvalidPosition):
        between(b, a)
    with pytest.raises(InvalidPosition):
        between(a, a)


def test_case_matters_in_comparisons() -> None:
    """Why position columns use a binary collation on MySQL and "C" on PostgreSQL."""
    assert "Zz" < "a0"
    assert is_valid("a0") and not is_valid("a")


async def test_memory_cache_is_bounded_by_entries_and_bytes() -> None:
    from orbitask.core.cache import MemoryCache

    cache = MemoryCache(max_entries=3, max_bytes=10)
    for key in "abcd":
        await cache.set(key, b"xx")
    assert await cache.get("a") is None and await cache.get("d") == b"xx"
    await cache.set("big", b"y" * 8)
    assert cache.size <= 10 and await cache.get("big") == b"y" * 8
    await cache.set("huge", b"z" * 11)
    assert await cache.get("huge") is None
