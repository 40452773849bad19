"""The deployer's settings (``K1_DEPLOY_*``); defaults work on one machine."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeployerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K1_DEPLOY_", env_file=".env", extra="ignore")

    timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="Seconds a device has to ack an offer before it is timed out (per "
        "deployment overridable); it is re-offered when it connects again",
    )
    sweep_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often expired offers are timed out"
    )
    offer_concurrency: int = Field(
        default=64, ge=1, le=1000, description="Offers published at once for big fleets"
    )
