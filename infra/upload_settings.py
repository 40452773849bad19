"""Settings of client uploads (``K1_UPLOAD_*``), read by the gateway and ingest.

Kept apart from ``infra.uploads`` so tools can load it without the web stack.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UploadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K1_UPLOAD_", env_file=".env", extra="ignore")

    idle_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="An upload whose next body chunk does not arrive within this is cut (408)",
    )
    min_rate_bytes_s: int = Field(
        default=16 * 1024,
        ge=0,
        description="Average body rate an upload must keep once the grace time is over "
        "(408 below it; 0 turns the check off)",
    )
    rate_grace_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="Seconds from the start of a body before the minimum rate applies",
    )
    max_per_client: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description="Uploads one client address may have in flight per gateway process (429)",
    )
    max_per_subject: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description="Uploads one token subject may have in flight per gateway process (429)",
    )
    url_ttl_s: int = Field(
        default=3600,
        ge=1,
        le=7 * 24 * 3600,
        description="Life of a presigned upload URL; PUT and complete must happen within it",
    )
    sweep_interval_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="How often ingest removes expired, never-completed presigned uploads",
    )
    spool_dir: Path | None = Field(
        default=None,
        description="Where ingest spools upload bodies (unset: the system temporary folder)",
    )

    @property
    def retry_after_s(self) -> int:
        """What a refused client is told to wait: the longest a stalled upload keeps a slot
        before it is cut (without the rate check, the idle timeout)."""
        return max(1, math.ceil(self.idle_timeout_s))
