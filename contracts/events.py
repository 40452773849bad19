"""Every event and command on the bus, with its routing key.

Events say what happened (past tense); commands ask one service to act. Each class's
``routing_key`` is the topic it is published under on the events exchange.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import ID_PATTERN, SHA256_PATTERN, Message
from contracts.topology import TELEMETRY_KEY, TELEMETRY_PARTITIONS, telemetry_routing_key

TrackId = Annotated[str, Field(pattern=ID_PATTERN, description="Track id")]
DeviceId = Annotated[str, Field(pattern=ID_PATTERN, description="Device id")]
ObjectKey = Annotated[
    str, Field(min_length=1, max_length=512, description="Key of an object in the object store")
]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="Lowercase hex SHA-256")]
AnalysisVersion = Annotated[
    int, Field(ge=1, description="Analysis version of the track (1 = first analysis)")
]
PresetName = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Genesis preset name")
]

Stage = Literal[
    "uploaded",
    "decoding",
    "rhythm",
    "features",
    "sections",
    "genesis",
    "validating",
    "bundling",
    "done",
]


class _Part(BaseModel):
    """A nested part of a message (no envelope of its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _TrackMessage(Message):
    track_id: TrackId
    analysis_version: AnalysisVersion = 1


class TrackUploaded(_TrackMessage):
    """An upload was accepted, stored and recorded; analysis may start."""

    routing_key = "track.uploaded"

    audio_key: ObjectKey
    audio_sha256: Sha256
    filename: str = Field(max_length=255, description="Client file name, sanitised")
    content_type: str = Field(max_length=100, description="Sniffed media type, e.g. audio/mpeg")
    size_bytes: int = Field(ge=1, description="Size of the stored audio object in bytes")
    duration_ms: float | None = Field(
        default=None, ge=0, description="Duration measured by the ingest probe, in ms"
    )
    preset: PresetName = "edm_high_energy"


class AnalysisRequested(_TrackMessage):
    """Command: analyse an already stored track again (re-analysis with a preset)."""

    routing_key = "cmd.analysis.request"

    audio_key: ObjectKey
    audio_sha256: Sha256
    filename: str = Field(max_length=255)
    preset: PresetName = "edm_high_energy"
    task_id: str = Field(max_length=64, description="Id the client polls for status")


class AnalysisProgress(_TrackMessage):
    """How far the analysis of one track version has come."""

    routing_key = "analysis.progress"

    stage: Stage
    percent: float = Field(ge=0, le=100, description="Progress of the whole chain, 0..100 %")
    message: str = Field(default="", max_length=200)


class AnalysisFailed(_TrackMessage):
    """The analysis of a track version failed for good; the reason is for humans."""

    routing_key = "analysis.failed"

    stage: Stage
    error_code: str = Field(max_length=64, description="Machine-readable error class")
    reason: str = Field(max_length=2000, description="Human-readable reason")


class BeatsDetected(_TrackMessage):
    """Analysis finished; its artefact is stored."""

    routing_key = "beats.detected"

    analysis_key: ObjectKey = Field(description="Object holding the full analysis artefact")
    audio_key: ObjectKey
    audio_sha256: Sha256
    filename: str = Field(max_length=255)
    preset: PresetName
    bpm: float = Field(ge=0, le=300, description="Global tempo in beats per minute (0 = none)")
    beat_count: int = Field(ge=0)
    duration_ms: float = Field(gt=0)
    warnings: list[str] = Field(default_factory=list, max_length=50)


class MapGenerated(_TrackMessage):
    """A Genesis Map v4 was written to the object store."""

    routing_key = "map.generated"

    map_key: ObjectKey
    map_sha256: Sha256 = Field(description="`metadata.hashes.map_sha256` of the map")
    object_sha256: Sha256 = Field(description="SHA-256 of the stored map bytes")
    map_size_bytes: int = Field(ge=1)
    preset: PresetName
    plot_key: ObjectKey | None = Field(default=None, description="PNG picture of the map")
    warnings: list[str] = Field(default_factory=list, max_length=50)
    candidate: bool = Field(
        default=False,
        description="An uploaded (external) map validated beside the track's "
        "current version, which keeps its status until this one is accepted",
    )


class ValidationIssue(_Part):
    """One reason a map failed validation."""

    field: str = Field(max_length=300, description="Dotted path of the offending field")
    message: str = Field(max_length=500)


class MapValidated(_TrackMessage):
    """The map passed schema and semantic validation and may go to devices."""

    routing_key = "map.validated"

    map_key: ObjectKey
    map_sha256: Sha256
    outcome: Literal["ready", "warning"] = Field(
        description="`warning` when the map is valid but flagged, e.g. no beats found"
    )
    warnings: list[str] = Field(default_factory=list, max_length=50)


class MapRejected(_TrackMessage):
    """The map failed validation; every reason is listed."""

    routing_key = "map.rejected"

    map_key: ObjectKey
    reasons: list[ValidationIssue] = Field(min_length=1, max_length=200)
    kept_status: Literal["ready", "warning", "failed"] | None = Field(
        default=None,
        description="For a rejected candidate (an uploaded map), the status the "
        "track keeps with its current version; None when the rejected version was the "
        "current one, so the track is now `failed`",
    )


class DeploymentRequested(Message):
    """Command: deliver a track's bundle to devices."""

    routing_key = "cmd.deployment.request"

    deployment_id: str = Field(pattern=ID_PATTERN)
    track_id: TrackId
    device_ids: list[DeviceId] = Field(default_factory=list, max_length=5000)
    group: str | None = Field(default=None, pattern=ID_PATTERN)
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="Seconds each device has to ack an offer (None: the deployer's default)",
    )


class DeviceOutcome(_Part):
    device_id: DeviceId
    state: Literal["pending", "delivered", "acked", "failed", "timed_out"]
    reason: str = Field(default="", max_length=500)


class BundleDeployed(Message):
    """A deployment finished; per-device outcomes included."""

    routing_key = "bundle.deployed"

    deployment_id: str = Field(pattern=ID_PATTERN)
    track_id: TrackId
    bundle_key: ObjectKey
    outcomes: list[DeviceOutcome] = Field(max_length=5000)


class TelemetryFrame(_Part):
    """One telemetry frame as sent by a device (validated by the gateway)."""

    device_id: DeviceId
    drift_ms: float = Field(ge=-60_000, le=60_000, description="Beat drift, device minus map")
    cpu_pct: float = Field(ge=0, le=100)
    temperature_c: float = Field(ge=-40, le=150)
    track_id: TrackId | None = None
    position_ms: float | None = Field(default=None, ge=0)
    received_at: datetime = Field(description="When the gateway received the frame (UTC)")
    seq: int | None = Field(default=None, ge=0, description="The device's frame sequence number")
    deployment_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Deployment whose bundle is playing"
    )


class DeviceTelemetry(Message):
    """A batch of telemetry frames forwarded by one gateway process.

    With ``partition`` set, every frame is of a device in that partition
    (``contracts.topology.telemetry_partition``) and the batch is routed to it; without, it is
    an older gateway's mixed batch, which the telemetry service splits into the partitions.
    """

    routing_key = TELEMETRY_KEY

    gateway_id: str = Field(max_length=64)
    frames: list[TelemetryFrame] = Field(min_length=1, max_length=10_000)
    partition: int | None = Field(
        default=None,
        ge=0,
        lt=TELEMETRY_PARTITIONS,
        description="Telemetry partition of every frame's device (None: not partitioned)",
    )

    def route(self) -> str:
        return TELEMETRY_KEY if self.partition is None else telemetry_routing_key(self.partition)


class TelemetryAlert(Message):
    """A device's drift exceeded its threshold."""

    routing_key = "telemetry.alert"

    device_id: DeviceId
    drift_ms: float
    threshold_ms: float = Field(gt=0)
    track_id: TrackId | None = None
    frame_received_at: datetime
    deployment_id: str | None = Field(default=None, pattern=ID_PATTERN)
    seq: int | None = Field(default=None, ge=0, description="Sequence number of the frame")
    gateway_id: str | None = Field(
        default=None,
        max_length=64,
        description="Gateway process that received the frame (it alerted its own dashboards)",
    )


ALL_MESSAGES: tuple[type[Message], ...] = (
    TrackUploaded,
    AnalysisRequested,
    AnalysisProgress,
    AnalysisFailed,
    BeatsDetected,
    MapGenerated,
    MapValidated,
    MapRejected,
    DeploymentRequested,
    BundleDeployed,
    DeviceTelemetry,
    TelemetryAlert,
)


# ---- devices (issue 6): offers routed to the gateway process holding the device's socket ----

DeploymentId = Annotated[str, Field(pattern=ID_PATTERN, description="Deployment id")]


class BundleBuilt(_TrackMessage):
    """The deployer packed a validated map into a device bundle and stored it."""

    routing_key = "bundle.built"

    bundle_key: ObjectKey
    crc32: int = Field(ge=0, le=0xFFFFFFFF, description="CRC32 trailer of the bundle")
    size_bytes: int = Field(ge=1)


class DeviceOffer(Message):
    """Command to whichever gateway process holds the device's socket: offer it a bundle.

    Every gateway receives it through its broadcast queue; the others ignore it. Nobody
    consumes it durably: an offline device is re-offered when it connects again.
    """

    routing_key = "device.offer"

    deployment_id: DeploymentId
    device_id: DeviceId
    track_id: TrackId
    bundle_key: ObjectKey
    crc32: int = Field(ge=0, le=0xFFFFFFFF)
    size_bytes: int = Field(ge=1)
    latency_offset_ms: int = Field(
        default=0,
        ge=-10_000,
        le=10_000,
        description="The device's latency offset, applied by the device at play time",
    )
    attempt: int = Field(default=1, ge=1, description="1 for the first offer, +1 per re-offer")


class DeviceDelivered(Message):
    """A gateway sent an offer to the device over its socket."""

    routing_key = "device.delivered"

    deployment_id: DeploymentId
    device_id: DeviceId
    gateway_id: str = Field(max_length=64)
    attempt: int = Field(default=1, ge=1)


class DeviceBundleAck(Message):
    """The device answered an offer: bundle downloaded and CRC verified (ok) or not."""

    routing_key = "device.bundle.ack"

    deployment_id: DeploymentId
    device_id: DeviceId
    ok: bool
    reason: str = Field(default="", max_length=500)


class DeviceConnected(Message):
    """A device authenticated on a gateway socket (pending deployments are re-offered)."""

    routing_key = "device.connected"

    device_id: DeviceId
    gateway_id: str = Field(max_length=64)


class DeviceDisconnected(Message):
    """A device's socket closed (live dashboards only)."""

    routing_key = "device.disconnected"

    device_id: DeviceId
    gateway_id: str = Field(max_length=64)
    reason: str = Field(default="", max_length=200)


DEVICE_MESSAGES: tuple[type[Message], ...] = (
    BundleBuilt,
    DeviceOffer,
    DeviceDelivered,
    DeviceBundleAck,
    DeviceConnected,
    DeviceDisconnected,
)
ALL_MESSAGES = ALL_MESSAGES + DEVICE_MESSAGES
