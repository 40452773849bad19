"""The deployer's pure rules: the CRC a device checks, when a deployment is done.

Latency offsets are applied at *offer* time: a track version has one bundle (its header's
latency offset is 0) and each offer carries the device's ``latency_offset_ms``, so changing a
device's offset never rebuilds or re-stores a bundle.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from contracts.bundle import encode_bundle
from contracts.events import DeviceOutcome
from infra.docstore_devices import SETTLED, Target

REOFFER_FROM = ("pending", "delivered", "timed_out")
"""States re-offered when a device connects (an offer on a closed socket is lost)."""
ACK_FROM = ("pending", "delivered", "timed_out")
"""States a device's answer may settle (a late ack after a timeout still counts)."""


def build_bundle(map_json: bytes, *, track_id: str) -> tuple[bytes, int]:
    """The bundle of a validated map and its CRC32 trailer (what a device verifies)."""
    doc: dict[str, Any] = json.loads(map_json)
    data = encode_bundle(doc, track_id=track_id, latency_offset_ms=0)
    return data, bundle_crc32(data)


def bundle_crc32(data: bytes) -> int:
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    return crc


def settled(targets: Sequence[Target]) -> bool:
    return all(t.state in SETTLED for t in targets)


def outcomes(targets: Iterable[Target]) -> list[DeviceOutcome]:
    return [
        DeviceOutcome(device_id=t.device_id, state=t.state, reason=t.reason[:500]) for t in targets
    ]


def outcomes_digest(items: Sequence[DeviceOutcome]) -> str:
    """Deterministic digest of a set of outcomes: part of the id of the ``bundle.deployed``
    it means (``contracts.lifecycle.deployed_id``)."""
    text = "\n".join(f"{o.device_id}:{o.state}" for o in sorted(items, key=lambda o: o.device_id))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
