"""The live progress hub: one broadcast consumer per process fans updates out to sockets.

``publish`` never waits: each socket has a bounded queue and, when a socket falls behind,
its oldest updates are dropped (a live view only needs the newest state), so a slow socket
never holds up the others or the consumer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from prometheus_client import Counter, Gauge

WS_CONNECTIONS = Gauge("k1_gateway_websocket_connections", "Open live-progress WebSockets")
WS_DROPPED = Counter(
    "k1_gateway_websocket_dropped_updates_total", "Updates dropped because a socket was too slow"
)
WS_UPDATES = Counter("k1_gateway_live_updates_total", "Progress updates fanned out")

ALL = "*"
"""Topic of the feed that carries every track."""


class HubFull(Exception):
    """Too many sockets are subscribed."""


class Subscription:
    def __init__(self, topic: str, size: int) -> None:
        self.topic = topic
        self._queue: deque[dict[str, Any]] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self.dropped = 0

    def push(self, update: dict[str, Any]) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
            WS_DROPPED.inc()
        self._queue.append(update)
        self._ready.set()

    async def next_batch(self) -> list[dict[str, Any]]:
        """Every queued update, waiting until there is at least one."""
        await self._ready.wait()
        self._ready.clear()
        batch = list(self._queue)
        self._queue.clear()
        return batch


class ProgressHub:
    def __init__(self, *, queue_size: int = 64, max_subscribers: int = 5000) -> None:
        self.queue_size, self.max_subscribers = queue_size, max_subscribers
        self._topics: dict[str, set[Subscription]] = {}
        self._count = 0

    def subscribe(self, track_id: str | None = None) -> Subscription:
        if self._count >= self.max_subscribers:
            raise HubFull(f"at most {self.max_subscribers} live sockets per process")
        sub = Subscription(track_id or ALL, self.queue_size)
        self._topics.setdefault(sub.topic, set()).add(sub)
        self._count += 1
        WS_CONNECTIONS.inc()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._topics.get(sub.topic)
        if subs is not None and sub in subs:
            subs.discard(sub)
            self._count -= 1
            WS_CONNECTIONS.dec()
            if not subs:
                del self._topics[sub.topic]

    @property
    def subscribers(self) -> int:
        return self._count

    def publish(self, update: dict[str, Any]) -> None:
        WS_UPDATES.inc()
        for topic in (ALL, update["track_id"]):
            for sub in self._topics.get(topic, ()):
                sub.push(update)
