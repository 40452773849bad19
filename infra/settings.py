"""Typed, environment-driven settings (prefix ``K1_``), one object shared by every service.

The standard ``OTEL_*`` tracing variables are read too, without the prefix (see
``infra.tracing.tracing_config`` for how they and their ``K1_OTEL_*`` aliases combine).

Each field's default works on one machine, except ``jwt_secret``: no secret that signs anything
is a constant in the code, so it has none (``make run`` generates one in ``var/``). The defaults
are production's (``dev_mode`` off). Secrets are ``SecretStr`` so they never show up in logs,
reprs or error messages.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="K1_", env_file=".env", extra="ignore", validate_by_name=True
    )

    dev_mode: bool = Field(
        default=False,
        description="Development only (`make run` and the tests switch it on): "
        "accept a JWT secret that the production strength check would refuse",
    )
    service_name: str = Field(default="k1", description="Name used in logs and metrics")
    log_format: str = Field(default="auto", description="auto | json | text")
    log_level: str = Field(default="INFO", description="Python log level")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        default="none", description="Where finished trace spans go: none | console | otlp"
    )
    otel_endpoint: str = Field(
        default="http://127.0.0.1:4318",
        description="OTLP/HTTP collector base URL (spans are POSTed to <url>/v1/traces)",
    )
    # The standard OpenTelemetry variables (as the OpenTelemetry Operator injects them). Each wins
    # over its K1_OTEL_* alias above; infra.tracing.tracing_config resolves the two.
    otel_traces_exporter: str | None = Field(
        default=None,
        validation_alias="OTEL_TRACES_EXPORTER",
        description="Standard variable, wins over K1_OTEL_EXPORTER: otlp | console | none, "
        "comma-separated",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="Standard variable, wins over K1_OTEL_ENDPOINT: OTLP/HTTP base URL; "
        "set without OTEL_TRACES_EXPORTER it turns OTLP export on",
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        description="Standard variable: the full URL spans are POSTed to (used as given)",
    )
    otel_service_name: str | None = Field(
        default=None,
        validation_alias="OTEL_SERVICE_NAME",
        description="Standard variable: `service.name` of every span (default: the service's "
        "own name, e.g. gateway)",
    )

    amqp_url: SecretStr = Field(
        default=SecretStr("amqp://guest:guest@127.0.0.1:5672/"), description="RabbitMQ URL"
    )
    broker_prefetch: int = Field(default=1, ge=1, le=1000, description="Unacked msgs/consumer")
    retry_backoff_s: float = Field(
        default=0.5, ge=0, le=60, description="Base delay before a failed message is requeued"
    )
    outage_patience_s: float = Field(
        default=120,
        ge=0,
        le=3600,
        description="How long a handler is retried in place, its delivery not counted, while "
        "MongoDB or the object store is unreachable",
    )

    mongodb_url: SecretStr = Field(
        default=SecretStr("mongodb://127.0.0.1:27017/"), description="MongoDB URL"
    )
    mongodb_database: str = Field(default="k1", description="MongoDB database name")

    s3_endpoint: str | None = Field(
        default=None, description="S3/MinIO endpoint host:port; unset = local folder store"
    )
    s3_access_key: SecretStr = Field(default=SecretStr("minioadmin"), description="S3 access key")
    s3_secret_key: SecretStr = Field(default=SecretStr("minioadmin"), description="S3 secret key")
    s3_secure: bool = Field(default=False, description="Use HTTPS for S3")
    s3_region: str = Field(default="us-east-1", description="S3 region")
    s3_bucket: str = Field(default="k1", description="Bucket for every object")
    data_dir: Path = Field(default=Path("var/data"), description="Local folder store root")

    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1, description="Upload limit")
    max_duration_s: float = Field(default=20 * 60, gt=0, description="Longest accepted audio")
    analysis_workers: int = Field(default=1, ge=1, le=64, description="Analyzer processes")
    analysis_tasks_per_worker: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description="Analyses an analysis process runs before a fresh one replaces it",
    )
    default_preset: str = Field(default="edm_high_energy", description="Preset when none is given")

    health_host: str = Field(default="127.0.0.1", description="Bind address of /healthz, /metrics")
    health_port: int = Field(
        default=9100, ge=0, le=65535, description="Worker health port (0: any)"
    )
    http_host: str = Field(default="127.0.0.1", description="Bind address of HTTP services")
    ingest_port: int = Field(default=8001, ge=0, le=65535, description="Ingest HTTP port")
    gateway_port: int = Field(default=8000, ge=0, le=65535, description="Gateway HTTP port")
    ingest_url: str = Field(default="http://127.0.0.1:8001", description="Ingest base URL")
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL clients reach the gateway at"
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"],
        description="Origins browsers may call the gateway from (JSON list in K1_CORS_ORIGINS)",
    )
    shutdown_grace_s: float = Field(
        default=60, ge=0, description="Time in-flight messages get to finish on shutdown"
    )
    reconcile_interval_s: float = Field(
        default=30, gt=0, description="How often ingest looks for tracks stuck in a stage"
    )
    stuck_after_s: float = Field(
        default=300,
        gt=0,
        description="A track unchanged this long in uploaded/analyzing/"
        "mapped has its event published again",
    )

    jwt_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HS256 signing secret of the API's tokens, and the "
        "root of the local object store's URL-signing key; required (no default), refused "
        "outside dev mode unless strong (infra/secret_strength.py)",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""), description="Bearer token every /metrics requires (empty: open)"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
