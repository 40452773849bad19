"""device.telemetry → store the frames, update per-device and per-deployment drift
statistics, emit ``telemetry.alert`` for drift beyond the device's threshold.

Frames get deterministic ids (batch event id + index), so a redelivered batch stores nothing
twice; the batch is claimed in the event ledger after its writes, so statistics and alerts are
not counted twice either.
"""

from __future__ import annotations

import logging
from typing import Any

from contracts.events import DeviceTelemetry, TelemetryAlert, TelemetryFrame
from contracts.lifecycle import alert_id
from services.telemetry.domain import AlertRule, DriftWindow
from services.telemetry.ports import TelemetryPorts

log = logging.getLogger("k1.telemetry")
CONSUMER = "telemetry"


class TelemetryState:
    """In-memory windows and alert state of this process (rebuilt from traffic after a restart)."""

    def __init__(self, ports: TelemetryPorts) -> None:
        self.ports = ports
        self.windows: dict[str, DriftWindow] = {}
        self.rule = AlertRule(ports.settings.alert_cooldown_s)
        self._thresholds: dict[str, tuple[float, float]] = {}

    def window(self, key: str) -> DriftWindow:
        if key not in self.windows:
            s = self.ports.settings
            self.windows[key] = DriftWindow(s.window_s, s.window_max_frames)
        return self.windows[key]

    async def threshold_ms(self, device_id: str) -> float:
        now = self.ports.clock()
        cached = self._thresholds.get(device_id)
        if cached is not None and now - cached[1] < self.ports.settings.threshold_cache_s:
            return cached[0]
        device = await self.ports.devices.devices.get(device_id)
        value = device.drift_threshold_ms if device else self.ports.settings.default_threshold_ms
        self._thresholds[device_id] = (value, now)
        return value


def frame_doc(event_id: str, index: int, frame: TelemetryFrame) -> dict[str, Any]:
    return {
        "_id": f"{event_id}:{index}",
        "device_id": frame.device_id,
        "deployment_id": frame.deployment_id,
        "track_id": frame.track_id,
        "seq": frame.seq,
        "drift_ms": frame.drift_ms,
        "cpu_pct": frame.cpu_pct,
        "temperature_c": frame.temperature_c,
        "position_ms": frame.position_ms,
        "received_at": frame.received_at,
        "received_s": frame.received_at.timestamp(),
    }


async def when_telemetry_received(batch: DeviceTelemetry, state: TelemetryState) -> None:
    ports = state.ports
    if await ports.ledger.seen(CONSUMER, batch.event_id):
        return
    await ports.devices.telemetry.add_frames(
        [frame_doc(batch.event_id, i, f) for i, f in enumerate(batch.frames)]
    )
    touched: set[str] = set()
    alerts: list[TelemetryAlert] = []
    for frame in batch.frames:
        t_s = frame.received_at.timestamp()
        for key in _keys(frame):
            state.window(key).add(t_s, frame.drift_ms)
            touched.add(key)
        threshold = await state.threshold_ms(frame.device_id)
        if state.rule.check(frame.device_id, frame.drift_ms, threshold, t_s):
            alerts.append(_alert(frame, threshold, batch.gateway_id))
    for key in sorted(touched):
        await ports.devices.telemetry.put_stats(key, state.window(key).stats())
    for alert in alerts:
        await ports.publisher.publish(alert)
    await ports.ledger.claim(CONSUMER, batch.event_id)
    if alerts:
        log.info("%d drift alerts from %d frames", len(alerts), len(batch.frames))


def _keys(frame: TelemetryFrame) -> list[str]:
    keys = [f"device:{frame.device_id}"]
    if frame.deployment_id:
        keys.append(f"deployment:{frame.deployment_id}")
    return keys


def _alert(frame: TelemetryFrame, threshold_ms: float, gateway_id: str) -> TelemetryAlert:
    stamp = round(frame.received_at.timestamp() * 1000)
    return TelemetryAlert(
        event_id=alert_id(frame.device_id, stamp),
        device_id=frame.device_id,
        drift_ms=frame.drift_ms,
        threshold_ms=threshold_ms,
        track_id=frame.track_id,
        frame_received_at=frame.received_at,
        deployment_id=frame.deployment_id,
        seq=frame.seq,
        gateway_id=gateway_id,
    )
