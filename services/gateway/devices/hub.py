"""Who is connected to this gateway process: device sockets (for offers) and dashboard
sockets (for fleet status and alerts), plus the per-device rate limit and drift alert rule.

Pushing to dashboards never waits: each monitor has a bounded queue that drops its oldest
updates when the socket is slow (``services.gateway.live.Subscription``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from services.gateway.live import Subscription

DEVICE_SOCKETS = Gauge("k1_gateway_device_sockets", "Connected device WebSockets")
MONITOR_SOCKETS = Gauge("k1_gateway_monitor_sockets", "Connected dashboard monitor WebSockets")
REFUSED = Counter("k1_gateway_device_frames_refused_total", "Frames refused", ["reason"])
ALERTS = Counter("k1_gateway_drift_alerts_total", "Drift alerts pushed to dashboards", ["source"])

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


class TokenBucket:
    """``rate_hz`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate_hz: float, burst: int) -> None:
        self.rate, self.burst = rate_hz, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(eq=False)
class DeviceConnection:
    device_id: str
    threshold_ms: float
    send: Send
    close: Close
    bucket: TokenBucket
    last_rx: float = field(default_factory=time.monotonic)
    last_drift_ms: float | None = None
    drifting_since_alert: float | None = None
    strikes: int = 0
    frames: int = 0

    async def push(self, text: str, *, timeout_s: float | None = None) -> None:
        """Send one text frame. Safe from several tasks at once without a lock: uvicorn's
        WebSocket protocols write each message whole in one go."""
        if timeout_s is None:
            await self.send(text)
        else:
            await asyncio.wait_for(self.send(text), timeout_s)


class DeviceHub:
    def __init__(
        self,
        *,
        gateway_id: str,
        cooldown_s: float = 5.0,
        monitor_queue: int = 256,
        max_devices: int = 10_000,
    ) -> None:
        self.gateway_id = gateway_id
        self.cooldown_s = cooldown_s
        self.monitor_queue = monitor_queue
        self.max_devices = max_devices
        self.devices: dict[str, DeviceConnection] = {}
        self.monitors: set[Subscription] = set()
        self._changed: set[str] = set()

    # ------------------------------------------------------------------------------ devices

    def attach(self, conn: DeviceConnection) -> DeviceConnection | None:
        """Register ``conn``; returns the connection it replaces (the same device again)."""
        old = self.devices.get(conn.device_id)
        self.devices[conn.device_id] = conn
        DEVICE_SOCKETS.set(len(self.devices))
        self._changed.add(conn.device_id)
        return old

    def detach(self, conn: DeviceConnection) -> bool:
        """Forget ``conn`` if it is still the device's current one."""
        if self.devices.get(conn.device_id) is not conn:
            return False
        del self.devices[conn.device_id]
        DEVICE_SOCKETS.set(len(self.devices))
        return True

    def full(self) -> bool:
        return len(self.devices) >= self.max_devices

    def observe(self, conn: DeviceConnection, frame: Any, received_at: float) -> dict | None:
        """Note a telemetry frame; returns the alert it raises on this process, if any."""
        conn.last_drift_ms, conn.frames = frame.drift_ms, conn.frames + 1
        self._changed.add(conn.device_id)
        if abs(frame.drift_ms) <= conn.threshold_ms:
            conn.drifting_since_alert = None
            return None
        last = conn.drifting_since_alert
        if last is not None and received_at - last < self.cooldown_s:
            return None
        conn.drifting_since_alert = received_at
        alert = {
            "type": "alert",
            "device_id": conn.device_id,
            "drift_ms": frame.drift_ms,
            "threshold_ms": conn.threshold_ms,
            "seq": frame.seq,
            "track_id": frame.track_id,
            "deployment_id": frame.deployment_id,
            "received_at": received_at,
            "source": "gateway",
        }
        ALERTS.labels("gateway").inc()
        self.to_monitors(alert)
        return alert

    # ----------------------------------------------------------------------------- monitors

    def watch(self) -> Subscription:
        sub = Subscription("monitor", self.monitor_queue)
        self.monitors.add(sub)
        MONITOR_SOCKETS.set(len(self.monitors))
        return sub

    def unwatch(self, sub: Subscription) -> None:
        self.monitors.discard(sub)
        MONITOR_SOCKETS.set(len(self.monitors))

    def to_monitors(self, update: dict[str, Any]) -> None:
        for sub in self.monitors:
            sub.push(update)

    def status(self, *, changed_only: bool = True) -> dict[str, Any]:
        """Fleet status of this process: devices and their last drift (changed ones only)."""
        ids = self._changed if changed_only else set(self.devices)
        self._changed = set()
        devices = {}
        for device_id in sorted(ids):
            conn = self.devices.get(device_id)
            devices[device_id] = (
                {"connected": True, "last_drift_ms": conn.last_drift_ms, "frames": conn.frames}
                if conn
                else {"connected": False}
            )
        return {
            "type": "status",
            "gateway_id": self.gateway_id,
            "connected": len(self.devices),
            "devices": devices,
        }
