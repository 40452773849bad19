"""Raw telemetry batches as stored: the frames of one partition batch, columnar, zlib'd JSON
(see ``infra.docstore_devices_drift``)."""

from __future__ import annotations

import os
import socket
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec

from contracts.events import DeviceTelemetry

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
COLUMNS = ("device_id", "t_s", "drift_ms", "seq", "deployment_id", "track_id")
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
"""Which process stored a batch (``stored_by``): where a partition was consumed."""


@dataclass(frozen=True, slots=True)
class Frame:
    device_id: str
    t_s: float
    """When the gateway received it (Unix seconds)."""
    drift_ms: float
    seq: int | None
    deployment_id: str | None
    track_id: str | None


def frames_of(batch: DeviceTelemetry, partition: int | None = None) -> list[Frame]:
    """The batch's frames (of one partition only, if given) in their order."""
    from contracts.topology import telemetry_partition

    return [
        Frame(
            f.device_id,
            f.received_at.timestamp(),
            f.drift_ms,
            f.seq,
            f.deployment_id,
            f.track_id,
        )
        for f in batch.frames
        if partition is None or telemetry_partition(f.device_id) == partition
    ]


def raw_doc(
    batch_id: str, partition: int, gateway_id: str, frames: list[Frame], stored_s: float
) -> dict[str, Any]:
    counts = Counter(f.device_id for f in frames)
    columns = {name: [getattr(f, name) for f in frames] for name in COLUMNS}
    return {
        "_id": batch_id,
        "partition": partition,
        "gateway_id": gateway_id,
        "t_min": min(f.t_s for f in frames),
        "t_max": max(f.t_s for f in frames),
        "stored_s": stored_s,
        "stored_by": PROCESS,
        "n": len(frames),
        "devices": list(counts),
        "device_counts": list(counts.values()),
        "body": zlib.compress(_encode(columns), 1),
    }


def frames_of_doc(doc: dict[str, Any]) -> list[Frame]:
    columns = _decode(zlib.decompress(bytes(doc["body"])))
    return [Frame(*row) for row in zip(*(columns[name] for name in COLUMNS), strict=True)]
