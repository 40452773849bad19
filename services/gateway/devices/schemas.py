"""Request and response bodies of the device and deployment API."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.base import ID_PATTERN

GROUP_PATTERN = ID_PATTERN


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceCreate(_In):
    device_id: str | None = Field(default=None, pattern=ID_PATTERN,
                                  description="Id of the device (generated when absent)")
    name: str = Field(min_length=1, max_length=100)
    group: str = Field(default="default", pattern=GROUP_PATTERN)
    latency_offset_ms: int = Field(default=0, ge=-10_000, le=10_000,
                                   description="Added to every cue time on this device")
    drift_threshold_ms: float = Field(default=50.0, gt=0, le=60_000,
                                      description="|drift| beyond this raises an alert")


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


class DeploymentCreate(_In):
    track_id: str = Field(pattern=ID_PATTERN)
    device_ids: list[str] = Field(default_factory=list, max_length=5000)
    group: str | None = Field(default=None, pattern=GROUP_PATTERN)
    timeout_s: float | None = Field(default=None, gt=0, le=86_400,
                                    description="Seconds each device has to ack")

    @model_validator(mode="after")
    def _targets(self) -> DeploymentCreate:
        if not self.device_ids and not self.group:
            raise ValueError("give device_ids or a group")
        return self


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
