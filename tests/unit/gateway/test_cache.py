"""The read cache: single flight, TTL, stale-while-refresh, invalidation."""

from __future__ import annotations

import asyncio

from services.gateway.cache import ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_readers_share_one_load():
    cache, calls = ReadCache(1.0), []

    async def load():
        calls.append(1)
        await asyncio.sleep(0.01)
        return b"x"

    assert (
        await asyncio.gather(*(cache.get(("track", "t"), load) for _ in range(20))) == [b"x"] * 20
    )
    assert len(calls) == 1


async def test_stale_value_is_served_while_one_refresh_runs():
    clock, values = Clock(), iter([b"old", b"new"])
    cache = ReadCache(1.0, stale_s=5.0, clock=clock)

    async def load():
        return next(values)

    assert await cache.get(("page", 1), load) == b"old"
    clock.now = 2.0
    assert await cache.get(("page", 1), load) == b"old"  # stale, refresh started
    await asyncio.sleep(0.01)
    assert await cache.get(("page", 1), load) == b"new"
    clock.now = 100.0  # far past stale: a reader waits for a fresh load
    values2 = iter([b"newest"])
    assert await cache.get(("page", 1), lambda: _value(next(values2))) == b"newest"


async def _value(v):
    return v


async def test_invalidate_drops_the_track_and_every_page():
    cache = ReadCache(60.0)
    for key in (("track", "a"), ("track", "b"), ("page", None, 20, 0)):
        await cache.get(key, lambda: _value(b"v"))
    cache.invalidate("a")
    assert set(cache._entries) == {("track", "b")}


async def test_missing_values_and_errors_are_not_cached():
    cache, calls = ReadCache(60.0), []

    async def load():
        calls.append(1)
        return None

    await cache.get(("track", "x"), load)
    await cache.get(("track", "x"), load)
    assert len(calls) == 2
