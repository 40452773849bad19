"""The device WebSocket protocol: JSON text frames, each with a ``type``, validated by msgspec.

Device → gateway: ``telemetry`` (acked with ``{"type":"ack","seq":n}``), ``bundle_ack``,
``ping`` (answered ``pong``). Gateway → device: ``hello``, ``ack``, ``offer``, ``error``,
``pong``. See docs/devices.md.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from contracts.base import ID_PATTERN

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]


class Telemetry(msgspec.Struct, tag="telemetry", forbid_unknown_fields=True, gc=False):
    seq: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    drift_ms: Annotated[float, msgspec.Meta(ge=-60_000, le=60_000)]
    cpu_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.0
    temperature_c: Annotated[float, msgspec.Meta(ge=-40, le=150)] = 25.0
    track_id: Id | None = None
    position_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    deployment_id: Id | None = None


class BundleAck(msgspec.Struct, tag="bundle_ack", forbid_unknown_fields=True):
    deployment_id: Id
    ok: bool
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class Ping(msgspec.Struct, tag="ping", forbid_unknown_fields=True):
    pass


Inbound = Telemetry | BundleAck | Ping
decoder = msgspec.json.Decoder(Inbound)
encode = msgspec.json.encode


def ack(seq: int) -> str:
    return f'{{"type":"ack","seq":{seq}}}'


def error(code: str, detail: str) -> str:
    return encode({"type": "error", "code": code, "detail": detail[:300]}).decode()
