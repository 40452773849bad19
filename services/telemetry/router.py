"""The telemetry service's routing and composition root."""

from __future__ import annotations

from contracts.events import DeviceTelemetry
from contracts.topology import subscription
from infra.broker import subscribe
from infra.docstore_devices import DeviceDocStore
from infra.runtime import Infra
from services.telemetry.config import TelemetrySettings
from services.telemetry.ports import TelemetryPorts
from services.telemetry.prune import start_pruner
from services.telemetry.when_telemetry_received_store import (
    TelemetryState,
    when_telemetry_received,
)


async def setup(infra: Infra):
    devices = DeviceDocStore(infra.docs)
    await devices.ensure_indexes()
    ports = TelemetryPorts(
        devices=devices,
        ledger=infra.docs.events,
        publisher=infra.publisher,
        settings=TelemetrySettings(),
    )
    state = TelemetryState(ports)

    # One batch at a time keeps the windows' order; a batch is up to 500 frames.
    @subscribe(
        infra.broker,
        subscription("telemetry", "device.telemetry"),
        DeviceTelemetry,
        prefetch=4,
        quiet=True,
    )
    async def on_telemetry(msg: DeviceTelemetry) -> None:
        await when_telemetry_received(msg, state)

    return start_pruner(ports)
