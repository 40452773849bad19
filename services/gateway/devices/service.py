"""The device side of one gateway process: its ports, hub, batcher and background loops."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
import zlib
from dataclasses import dataclass, field

from contracts.events import DeviceConnected, DeviceDisconnected
from infra.docstore import DocStore
from infra.docstore_devices import DeviceDocs
from infra.objectstore import ObjectStore
from infra.publishing import Publisher
from services.gateway.devices.batcher import TelemetryBatcher
from services.gateway.devices.config import DeviceSettings
from services.gateway.devices.hub import DeviceHub

log = logging.getLogger("k1.gateway.devices")
ANNOUNCERS = 8
GC_THRESHOLDS = (20_000, 20, 100)
"""Allocations before a young collection (CPython's default is 700), then the older ones'."""
"""Concurrent (dis)connection announcements (database write + confirmed publish)."""


def new_gateway_id() -> str:
    return f"gw-{uuid.uuid4().hex[:12]}"


@dataclass
class DeviceGateway:
    docs: DocStore
    devices: DeviceDocs
    objects: ObjectStore
    publisher: Publisher
    settings: DeviceSettings = field(default_factory=DeviceSettings)
    gateway_id: str = field(default_factory=new_gateway_id)
    requested: dict[str, str] = field(default_factory=dict)
    """Deployments this process asked for that the deployer may not have recorded yet."""

    def __post_init__(self) -> None:
        s = self.settings
        self.hub = DeviceHub(
            gateway_id=self.gateway_id, cooldown_s=s.alert_cooldown_s, max_devices=s.max_devices
        )
        self.batcher = TelemetryBatcher(
            self.publisher,
            gateway_id=self.gateway_id,
            interval_s=s.batch_interval_s,
            max_frames=s.batch_max_frames,
            buffer_max=s.buffer_max_frames,
        )
        self._tasks: list[asyncio.Task] = []
        self._announcements: list[asyncio.Queue] = []

    async def start(self) -> None:
        # Everything loaded so far lives as long as the process: keep it out of the GC's
        # collections, and collect less often — each telemetry frame makes a few short-lived
        # containers, and a full collection over thousands of sockets stalls every one of them.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        await self.devices.ensure_indexes()
        self.batcher.start()
        self._announcements = [asyncio.Queue() for _ in range(ANNOUNCERS)]
        self._tasks = [
            asyncio.create_task(self._status_loop(), name="fleet-status"),
            asyncio.create_task(self._idle_loop(), name="device-idle"),
            asyncio.create_task(self._presence_loop(), name="device-presence"),
            *(
                asyncio.create_task(self._announcer(q), name="announcer")
                for q in self._announcements
            ),
        ]

    def announce(self, device_id: str, *, connected: bool) -> None:
        """Record a device's (dis)connection and publish it, off the socket's path: a fleet
        coming online at once must not queue its handshakes behind 2000 confirmed publishes."""
        self.hub.to_monitors(
            {
                "type": "device",
                "device_id": device_id,
                "connected": connected,
                "gateway_id": self.gateway_id,
            }
        )
        if self._announcements:  # one queue per device keeps its announcements in order
            shard = zlib.crc32(device_id.encode()) % len(self._announcements)
            self._announcements[shard].put_nowait((device_id, connected))

    async def _announcer(self, queue: asyncio.Queue) -> None:
        while True:
            device_id, connected = await queue.get()
            try:
                await self.devices.devices.set_connection(
                    device_id, connected=connected, gateway_id=self.gateway_id
                )
                message = (DeviceConnected if connected else DeviceDisconnected)(
                    device_id=device_id, gateway_id=self.gateway_id
                )
                await self.publisher.publish(message)
            except Exception as exc:  # the device's next connection announces it again
                log.warning(
                    "could not announce %s of %s: %s",
                    "connection" if connected else "disconnection",
                    device_id,
                    type(exc).__name__,
                )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for conn in list(self.hub.devices.values()):
            with contextlib.suppress(Exception):
                await conn.close(1001, "gateway shutting down")
        await self.batcher.stop()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app=None):
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval_s)
            if self.hub.monitors:
                self.hub.to_monitors(self.hub.status())

    async def _presence_loop(self) -> None:
        """Renew the presence lease of the devices this process holds (see
        ``infra.docstore_devices``): if the process dies, they read as offline once it lapses."""
        while True:
            await asyncio.sleep(self.settings.presence_lease_s / 3)
            if self.hub.devices:
                try:
                    await self.devices.devices.renew_connections(self.gateway_id)
                except Exception as exc:  # the next round tries again; the lease has slack
                    log.warning("could not renew device presence: %s", type(exc).__name__)

    async def _idle_loop(self) -> None:
        """Close device sockets that said nothing for ``idle_timeout_s`` (frames or pings)."""
        timeout = self.settings.idle_timeout_s
        while True:
            await asyncio.sleep(min(5.0, timeout / 4))
            now = time.monotonic()
            for conn in [c for c in self.hub.devices.values() if now - c.last_rx > timeout]:
                with contextlib.suppress(Exception):
                    await conn.close(1001, "idle timeout")
