"""Telemetry over fakes: frames stored once, drift statistics per device and deployment,
one alert per drift episode beyond the device's own threshold, retention by prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.events import DeviceTelemetry, TelemetryAlert, TelemetryFrame
from infra.docstore_devices_fake import FakeDeviceDocStore
from infra.docstore_fake import FakeDocStore
from infra.publishing import RecordingPublisher
from services.telemetry.config import TelemetrySettings
from services.telemetry.domain import DriftWindow, percentile
from services.telemetry.ports import TelemetryPorts
from services.telemetry.prune import prune_once
from services.telemetry.when_telemetry_received_store import (
    TelemetryState,
    when_telemetry_received,
)
from tests.contract_docstore_devices import new_device

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
async def state():
    devices = FakeDeviceDocStore()
    await devices.devices.create(new_device("d1", drift_threshold_ms=20.0))
    await devices.devices.create(new_device("d2"))
    ports = TelemetryPorts(
        devices=devices,
        ledger=FakeDocStore().events,
        publisher=RecordingPublisher(),
        settings=TelemetrySettings(alert_cooldown_s=5, retention_s=60),
        clock=lambda: T0.timestamp() + 100,
    )
    return TelemetryState(ports)


def _batch(drifts, *, device="d1", start_s=0.0, deployment="dep1", event_id=None):
    frames = [
        TelemetryFrame(
            device_id=device,
            drift_ms=d,
            cpu_pct=10,
            temperature_c=40,
            track_id="t1",
            received_at=T0 + timedelta(seconds=start_s + i * 0.1),
            seq=i,
            deployment_id=deployment,
        )
        for i, d in enumerate(drifts)
    ]
    return DeviceTelemetry(
        gateway_id="g1", frames=frames, **({"event_id": event_id} if event_id else {})
    )


def test_percentiles_are_nearest_rank_of_absolute_drift():
    w = DriftWindow(window_s=60, max_frames=100)
    for i, d in enumerate([-1, 2, -3, 4, 5, 6, 7, 8, 9, -100]):
        w.add(float(i), float(d))
    stats = w.stats()
    assert (stats["p50_ms"], stats["p95_ms"], stats["max_ms"]) == (5.0, 100.0, 100.0)
    assert percentile([], 95) == 0.0
    w.add(100.0, 1.0)  # everything else is older than the window now
    assert w.stats()["count"] == 1 and w.stats()["total_frames"] == 11


async def test_frames_are_stored_once_and_stats_kept_per_device_and_deployment(state):
    batch = _batch([1.0, -2.0, 3.0, 4.0])
    await when_telemetry_received(batch, state)
    await when_telemetry_received(batch, state)  # redelivered
    telemetry = state.ports.devices.telemetry
    assert await telemetry.count_frames("d1") == 4
    device = await telemetry.get_stats("device:d1")
    assert (device["count"], device["p50_ms"], device["max_ms"]) == (4, 2.0, 4.0)
    assert (await telemetry.get_stats("deployment:dep1"))["count"] == 4


async def test_drift_beyond_the_devices_own_threshold_alerts_once_per_episode(state):
    await when_telemetry_received(_batch([5.0, 25.0, 30.0, 40.0, 3.0, -26.0]), state)
    alerts = state.ports.publisher.of(TelemetryAlert)
    assert [(a.drift_ms, a.threshold_ms, a.seq) for a in alerts] == [
        (25.0, 20.0, 1),
        (-26.0, 20.0, 5),
    ]
    assert alerts[0].gateway_id == "g1" and alerts[0].deployment_id == "dep1"
    assert len({a.event_id for a in alerts}) == 2
    await when_telemetry_received(_batch([45.0, 45.0], device="d2", start_s=1), state)
    assert not [a for a in state.ports.publisher.of(TelemetryAlert) if a.device_id == "d2"]


async def test_a_device_that_keeps_drifting_is_alerted_again_after_the_cooldown(state):
    await when_telemetry_received(_batch([30.0] * 3), state)
    await when_telemetry_received(_batch([30.0] * 3, start_s=6), state)
    assert len(state.ports.publisher.of(TelemetryAlert)) == 2


async def test_frames_past_retention_are_pruned(state):
    await when_telemetry_received(_batch([1.0] * 3, start_s=0), state)
    await when_telemetry_received(_batch([1.0] * 3, start_s=50), state)
    assert await prune_once(state.ports) == 3
    assert await state.ports.devices.telemetry.count_frames() == 3
