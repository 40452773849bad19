"""The devices' broadcast consumer: every gateway process sees every offer, alert, finished
deployment and device (dis)connection; it acts on offers for devices whose socket it holds
and fans the rest out to its dashboards."""

from __future__ import annotations

import logging

from contracts.base import Message
from contracts.events import (
    BundleDeployed,
    DeviceConnected,
    DeviceDelivered,
    DeviceDisconnected,
    DeviceOffer,
    TelemetryAlert,
)
from contracts.lifecycle import delivered_id
from infra.broker import broadcast_queue, subscribe_broadcast
from services.gateway.devices import protocol
from services.gateway.devices.hub import ALERTS
from services.gateway.devices.service import DeviceGateway

log = logging.getLogger("k1.gateway.devices")
FEED_MODELS: tuple[type[Message], ...] = (
    DeviceOffer,
    TelemetryAlert,
    BundleDeployed,
    DeviceConnected,
    DeviceDisconnected,
)
OFFER_SEND_TIMEOUT_S = 5.0


RECENT_ALERTS = 4096
"""Alert ids remembered: a telemetry batch redelivered after a crash raises the same alert
(same id) again, and a dashboard must see it once."""


class DeviceFeed:
    def __init__(self, gw: DeviceGateway) -> None:
        self.gw = gw
        self._recent_alerts: dict[str, None] = {}

    def first_time(self, alert_id: str) -> bool:
        if alert_id in self._recent_alerts:
            return False
        self._recent_alerts[alert_id] = None
        if len(self._recent_alerts) > RECENT_ALERTS:
            del self._recent_alerts[next(iter(self._recent_alerts))]
        return True

    async def handle(self, msg: Message) -> None:
        match msg:
            case DeviceOffer():
                await self.offer(msg)
            case TelemetryAlert():
                # ours went out when the frame came; a repeat (redelivered batch) goes nowhere
                if msg.gateway_id != self.gw.gateway_id and self.first_time(msg.event_id):
                    ALERTS.labels("telemetry").inc()
                    self.gw.hub.to_monitors(alert_update(msg))
            case BundleDeployed():
                self.gw.requested.pop(msg.deployment_id, None)
                self.gw.hub.to_monitors(
                    {
                        "type": "deployment",
                        "deployment_id": msg.deployment_id,
                        "track_id": msg.track_id,
                        "outcomes": [o.model_dump() for o in msg.outcomes],
                    }
                )
            case DeviceConnected() | DeviceDisconnected():
                if msg.gateway_id != self.gw.gateway_id:
                    self.gw.hub.to_monitors(
                        {
                            "type": "device",
                            "device_id": msg.device_id,
                            "connected": isinstance(msg, DeviceConnected),
                            "gateway_id": msg.gateway_id,
                        }
                    )

    async def offer(self, msg: DeviceOffer) -> bool:
        """Send the offer if this process holds the device's socket; True when sent."""
        conn = self.gw.hub.devices.get(msg.device_id)
        if conn is None:
            return False
        url = await self.gw.objects.presigned_get_url(
            msg.bundle_key, expires_s=self.gw.settings.offer_url_expiry_s
        )
        await conn.push(
            protocol.encode(
                {
                    "type": "offer",
                    "deployment_id": msg.deployment_id,
                    "track_id": msg.track_id,
                    "bundle_url": url,
                    "crc32": msg.crc32,
                    "size": msg.size_bytes,
                    "latency_offset_ms": msg.latency_offset_ms,
                    "attempt": msg.attempt,
                }
            ).decode(),
            timeout_s=OFFER_SEND_TIMEOUT_S,
        )
        await self.gw.publisher.publish(
            DeviceDelivered(
                event_id=delivered_id(msg.deployment_id, msg.device_id, msg.attempt),
                deployment_id=msg.deployment_id,
                device_id=msg.device_id,
                gateway_id=self.gw.gateway_id,
                attempt=msg.attempt,
            )
        )
        return True


def alert_update(msg: TelemetryAlert) -> dict:
    return {
        "type": "alert",
        "device_id": msg.device_id,
        "drift_ms": msg.drift_ms,
        "threshold_ms": msg.threshold_ms,
        "seq": msg.seq,
        "track_id": msg.track_id,
        "deployment_id": msg.deployment_id,
        "received_at": msg.frame_received_at.timestamp(),
        "source": "telemetry",
    }


def register_device_feed(broker, feed: DeviceFeed) -> None:
    queue = broadcast_queue("gateway-devices", [m.routing_key for m in FEED_MODELS])
    subscribe_broadcast(broker, queue, *FEED_MODELS)(feed.handle)
