"""Limits and timings of the device and monitor WebSockets (``K1_DEVICE_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeviceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K1_DEVICE_", env_file=".env", extra="ignore")

    max_frame_bytes: int = Field(
        default=4096, ge=256, le=1 << 20, description="Largest frame a device may send"
    )
    rate_hz: float = Field(default=10.0, gt=0, description="Sustained frames/s per device")
    burst: int = Field(default=20, ge=1, description="Frames a device may send at once")
    max_strikes: int = Field(
        default=3,
        ge=1,
        description="Bad frames (malformed, oversize, over the rate) before "
        "the socket is closed; each one gets an error frame",
    )
    idle_timeout_s: float = Field(
        default=60.0, gt=0, description="A device silent this long is disconnected"
    )
    batch_interval_s: float = Field(
        default=0.2,
        gt=0,
        description="Telemetry is forwarded at least this often (one batch per telemetry "
        "partition: longer intervals make fewer, larger batches, which is what telemetry's "
        "throughput depends on)",
    )
    batch_max_frames: int = Field(default=500, ge=1, description="... or at this many frames")
    buffer_max_frames: int = Field(
        default=50_000, ge=1, description="Frames kept while RabbitMQ is away (oldest dropped)"
    )
    offer_url_expiry_s: int = Field(
        default=300, ge=10, le=3600, description="Life of the bundle URL in an offer"
    )
    default_threshold_ms: float = Field(
        default=50.0, gt=0, description="Drift alert threshold of a new device"
    )
    alert_cooldown_s: float = Field(
        default=5.0, ge=0, description="A device still drifting is alerted again after"
    )
    status_interval_s: float = Field(
        default=1.0, gt=0, description="Fleet status to dashboards this often"
    )
    max_devices: int = Field(default=10_000, ge=1, description="Device sockets per process")
    presence_lease_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="A device reads as online while its gateway renewed it within this; the "
        "gateway renews every third of it, so a killed gateway's devices go "
        "offline after at most this long",
    )
