"""A job run every few seconds in the background of a service, until the service stops.

A failed run (a store or the broker down) is logged and tried again at the next tick; the
loop never dies of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("k1.periodic")


async def every(
    job: Callable[[], Awaitable[object]], *, interval_s: float, stop: asyncio.Event, what: str
) -> None:
    """Run ``job`` every ``interval_s`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await job()
        except Exception as exc:
            log.warning("%s failed: %s", what, type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


class PeriodicTask:
    """``every`` as an asyncio task, started at construction (inside a running loop)."""

    def __init__(
        self, job: Callable[[], Awaitable[object]], *, interval_s: float, name: str
    ) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            every(job, interval_s=interval_s, stop=self._stop, what=name), name=name
        )

    async def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, timeout=10)
