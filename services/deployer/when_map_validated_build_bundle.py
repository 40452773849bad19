"""map.validated → pack the map into the device bundle, store it, record it → bundle.built."""

from __future__ import annotations

import asyncio
import logging

from contracts.events import BundleBuilt, MapValidated
from contracts.lifecycle import bundle_key, event_id
from infra.docstore_devices import BundleRecord
from services.deployer.domain import build_bundle
from services.deployer.ports import DeployerPorts

log = logging.getLogger("k1.deployer")


async def build_track_bundle(
    ports: DeployerPorts, *, track_id: str, version: int, map_key: str, map_sha256: str
) -> BundleRecord:
    """Build and store the bundle of one track version (same bytes every time: idempotent)."""
    raw = await ports.objects.get_bytes(map_key)
    data, crc = await asyncio.to_thread(build_bundle, raw, track_id=track_id)
    key = bundle_key(track_id, version)
    await ports.objects.put_bytes(key, data, content_type="application/octet-stream")
    record = BundleRecord(track_id, version, key, crc, len(data), map_sha256)
    await ports.devices.bundles.put(record)
    return record


async def when_map_validated(event: MapValidated, ports: DeployerPorts) -> None:
    record = await build_track_bundle(
        ports,
        track_id=event.track_id,
        version=event.analysis_version,
        map_key=event.map_key,
        map_sha256=event.map_sha256,
    )
    log.info(
        "bundle built: %s (%d bytes)",
        record.bundle_key,
        record.size_bytes,
        extra={"track_id": event.track_id},
    )
    await ports.publisher.publish(
        BundleBuilt(
            event_id=event_id(event.track_id, event.analysis_version, "bundled"),
            track_id=event.track_id,
            analysis_version=event.analysis_version,
            bundle_key=record.bundle_key,
            crc32=record.crc32,
            size_bytes=record.size_bytes,
            trace=event.trace,
        )
    )
