"""The telemetry service's routing and composition root.

Each owned partition queue has its own consumer (single active consumer: if another process
consumes it too, one waits); batches of one partition are handled one at a time (a lock per
partition: up to ``prefetch`` are delivered at once and may start out of order, which changes
nothing — counts, windows and rollups are of sets of frames). The unpartitioned
queue (older gateways) is split into the partitions by whichever process is its active consumer.
"""

from __future__ import annotations

import logging

from contracts.events import DeviceTelemetry
from contracts.topology import TELEMETRY_KEY, subscription, telemetry_routing_key
from infra.broker import subscribe
from infra.docstore_devices import DeviceDocStore
from infra.runtime import Infra
from services.telemetry.config import TelemetrySettings
from services.telemetry.ports import TelemetryPorts
from services.telemetry.prune import start_background
from services.telemetry.when_telemetry_received_store import (
    TelemetryState,
    when_telemetry_received,
)
from services.telemetry.when_unpartitioned_batch_split import when_unpartitioned_batch_split

log = logging.getLogger("k1.telemetry")


async def setup(infra: Infra, settings: TelemetrySettings | None = None):
    settings = settings or TelemetrySettings()
    devices = DeviceDocStore(infra.docs)
    await devices.ensure_indexes()
    ports = TelemetryPorts(
        devices=devices, ledger=infra.docs.events, publisher=infra.publisher, settings=settings
    )
    state = TelemetryState(ports)
    owned = settings.owned_partitions()
    log.info("telemetry consumes partitions %s", ",".join(map(str, owned)))

    async def on_telemetry(msg: DeviceTelemetry) -> None:
        await when_telemetry_received(msg, state)

    for p in owned:
        subscribe(
            infra.broker,
            subscription("telemetry", telemetry_routing_key(p)),
            DeviceTelemetry,
            prefetch=settings.prefetch,
            quiet=True,
        )(on_telemetry)

    @subscribe(infra.broker, subscription("telemetry", TELEMETRY_KEY), DeviceTelemetry, quiet=True)
    async def on_unpartitioned(msg: DeviceTelemetry) -> None:
        await when_unpartitioned_batch_split(msg, infra.publisher)

    setup.state = state  # type: ignore[attr-defined]  # for in-process benchmarks and tests
    return start_background(state)
