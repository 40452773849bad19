"""The telemetry service's settings (``K1_TELEMETRY_*``); defaults work on one machine."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K1_TELEMETRY_", env_file=".env", extra="ignore")

    retention_s: float = Field(
        default=24 * 3600, gt=0, description="How long stored frames are kept (periodic prune)"
    )
    prune_interval_s: float = Field(default=60, gt=0, description="How often old frames go")
    window_s: float = Field(
        default=60, gt=0, description="Drift statistics (P50/P95/max) cover this many seconds"
    )
    window_max_frames: int = Field(
        default=3000, ge=10, description="At most this many recent frames per window"
    )
    default_threshold_ms: float = Field(
        default=50, gt=0, description="Drift alert threshold of a device that has none"
    )
    alert_cooldown_s: float = Field(
        default=5, ge=0, description="A device still drifting is alerted again after this"
    )
    threshold_cache_s: float = Field(
        default=5, ge=0, description="How long a device's threshold is cached"
    )
