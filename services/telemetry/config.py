"""The telemetry service's settings (``K1_TELEMETRY_*``); defaults work on one machine."""

from __future__ import annotations

import os
import re

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topology import TELEMETRY_PARTITIONS, telemetry_partitions_owned


class TelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K1_TELEMETRY_", env_file=".env", extra="ignore")

    retention_s: float = Field(
        default=24 * 3600, gt=0, description="How long per-second drift rollups are kept"
    )
    raw_retention_s: float = Field(
        default=600,
        gt=0,
        description="How long raw frames are kept (never longer than retention_s); at least "
        "the window plus a minute, so a partition's windows can be rebuilt from them",
    )
    prune_interval_s: float = Field(default=60, gt=0, description="How often old data goes")
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
    stats_interval_s: float = Field(
        default=2.0, ge=0, description="Window statistics of changed devices are written this often"
    )
    close_delay_s: float = Field(
        default=2.0, ge=0, description="A second's rollup is written this long after it ended"
    )
    replicas: int = Field(
        default=1,
        ge=1,
        le=TELEMETRY_PARTITIONS,
        description="Telemetry processes sharing the partitions (the StatefulSet's replicas)",
    )
    ordinal: int | None = Field(
        default=None,
        ge=0,
        description="This process's number among them (None: the trailing number of the "
        "host name, as a StatefulSet pod k1-telemetry-3 has, else 0)",
    )
    partitions: str = Field(
        default="",
        description="Comma-separated partitions to consume instead of the share of "
        "ordinal/replicas (benchmarks, tests)",
    )
    prefetch: int = Field(default=8, ge=1, description="Unacked batches per partition consumer")

    def owned_partitions(self) -> tuple[int, ...]:
        """The partitions this process consumes."""
        if self.partitions.strip():
            return tuple(sorted({int(p) for p in self.partitions.split(",") if p.strip()}))
        ordinal = self.ordinal
        if ordinal is None:
            found = re.search(r"-(\d+)$", os.environ.get("HOSTNAME", ""))
            ordinal = int(found.group(1)) if found else 0
        return telemetry_partitions_owned(ordinal, self.replicas)

    @property
    def raw_keep_s(self) -> float:
        return min(self.raw_retention_s, self.retention_s)
