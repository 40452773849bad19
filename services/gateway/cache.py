"""A tiny TTL read cache with single flight: many readers of one key share one load.

Reads of tracks and pages are served from memory for ``ttl_s``; after that, for up to
``stale_s`` more, the old value is still served while one background load refreshes it, so
readers never wait on the database for a hot key. The live feed invalidates a track's entries
as soon as an event about it arrives, so a change made through the event chain shows at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

log = logging.getLogger("k1.gateway")


class ReadCache:
    def __init__(
        self,
        ttl_s: float,
        *,
        stale_s: float | None = None,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.max_entries, self._clock = ttl_s, max_entries, clock
        self.stale_s = 4 * ttl_s if stale_s is None else stale_s
        self._entries: dict[Hashable, tuple[float, asyncio.Future]] = {}
        self._refreshing: set[Hashable] = set()
        self._tasks: set[asyncio.Task] = set()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl_s <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None:
            expires, future = entry
            if expires > self._clock():
                return await asyncio.shield(future)
            if future.done() and self._clock() < expires + self.stale_s:
                self._refresh(key, load)
                return future.result()
        return await self._load(key, load, pending=True)

    def _refresh(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> None:
        if key in self._refreshing:
            return
        self._refreshing.add(key)

        async def run() -> None:
            try:
                await self._load(key, load, pending=False)
            except Exception as exc:  # the next reader loads again and sees the error
                log.warning("cache refresh failed: %s", type(exc).__name__)
            finally:
                self._refreshing.discard(key)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(
        self, key: Hashable, load: Callable[[], Awaitable[Any]], *, pending: bool
    ) -> Any:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        before = self._entries.get(key)
        if pending:  # readers of this key wait for this load instead of starting their own
            self._entries[key] = (float("inf"), future)
        try:
            value = await load()
        except BaseException as exc:
            self._drop(key, future)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        future.set_result(value)
        current = self._entries.get(key)
        if value is None:
            self._drop(key, future)
        elif (current is not None and current[1] is future) or (
            not pending and current is before and current is not None
        ):
            self._entries[key] = (self._clock() + self.ttl_s, future)
        return value

    def _drop(self, key: Hashable, future: asyncio.Future) -> None:
        if self._entries.get(key, (0, None))[1] is future:
            del self._entries[key]

    def invalidate(self, track_id: str) -> None:
        """Forget the track and every page (a page may show it)."""
        for key in [
            k
            for k in self._entries
            if isinstance(k, tuple) and (k[0] == "page" or k == ("track", track_id))
        ]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
