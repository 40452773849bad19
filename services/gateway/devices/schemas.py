"""Request and response bodies of the device and deployment API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import ID_PATTERN

GROUP_PATTERN = ID_PATTERN


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceCreate(_In):
    device_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Id of the device (generated when absent)"
    )
    name: str = Field(min_length=1, max_length=100)
    group: str = Field(default="default", pattern=GROUP_PATTERN)
    latency_offset_ms: int = Field(
        default=0, ge=-10_000, le=10_000, description="Added to every cue time on this device"
    )
    drift_threshold_ms: float = Field(
        default=50.0, gt=0, le=60_000, description="|drift| beyond this raises an alert"
    )


class DeviceUpdate(_In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    group: str | None = Field(default=None, pattern=GROUP_PATTERN)
    latency_offset_ms: int | None = Field(default=None, ge=-10_000, le=10_000)
    drift_threshold_ms: float | None = Field(default=None, gt=0, le=60_000)


class DriftStats(BaseModel):
    count: int = Field(description="Frames in the window")
    total_frames: int = 0
    p50_ms: float
    p95_ms: float
    max_ms: float
    last_drift_ms: float
    window_s: float


class DriftPoint(BaseModel):
    t_s: float = Field(description="Start of the second, Unix seconds (gateway receipt)")
    count: int = Field(description="Frames received in that second")
    p50_ms: float = Field(description="Median |drift| in that second")
    p95_ms: float
    max_ms: float
    last_drift_ms: float = Field(description="The second's last drift, signed")


class DriftSeries(BaseModel):
    device_id: str
    since_s: float
    until_s: float
    resolution_s: int = Field(description="Seconds per point")
    points: list[DriftPoint] = Field(description="Seconds with frames only, in time order")


class DeviceOut(BaseModel):
    device_id: str
    name: str
    group: str
    latency_offset_ms: int
    drift_threshold_ms: float
    connected: bool
    created_at: datetime
    updated_at: datetime
    drift: DriftStats | None = Field(default=None, description="Recent drift statistics")


class DeviceCreated(DeviceOut):
    token: str = Field(description="The device's secret token: shown once, never again")


class DevicePage(BaseModel):
    items: list[DeviceOut]
    limit: int
    offset: int


MAX_DEPLOYMENT_DEVICE_IDS = 1000
"""Device ids one deployment request may name; a larger fleet is deployed to by group."""


class DeploymentCreate(_In):
    track_id: str = Field(pattern=ID_PATTERN)
    # The cap is declared for OpenAPI (maxItems) and enforced by the controller, so a request
    # beyond it is refused with 422 and the reason, like the other target errors.
    device_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": MAX_DEPLOYMENT_DEVICE_IDS},
        description=f"Registered devices to deploy to, at most {MAX_DEPLOYMENT_DEVICE_IDS} "
        "(more: 422; use a group). Unknown ids: 422 listing them. Give "
        "device_ids, a group, or both; neither: 422.",
    )
    group: str | None = Field(
        default=None,
        pattern=GROUP_PATTERN,
        description="Every device of this group (a group with no device: 422)",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, le=86_400, description="Seconds each device has to ack"
    )


class DeploymentAccepted(BaseModel):
    deployment_id: str
    status_url: str


class DeviceState(BaseModel):
    device_id: str
    state: Literal["pending", "delivered", "acked", "failed", "timed_out"]
    reason: str
    attempt: int


class DeploymentOut(BaseModel):
    deployment_id: str
    track_id: str
    status: Literal["requested", "in_progress", "complete"]
    bundle_key: str | None = None
    crc32: int | None = None
    size_bytes: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    devices: list[DeviceState] = Field(default_factory=list)
    drift: DriftStats | None = None
