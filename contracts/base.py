"""Common envelope of every message on the bus."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Ids that come from outside (track, device, deployment ids) match this: no slashes, no `..`
at the start, at most 64 characters, so they are safe inside object keys and URLs."""
SHA256_PATTERN = r"^[0-9a-f]{64}$"


def new_id() -> str:
    """A fresh random id (32 lowercase hex characters)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class TraceContext(BaseModel):
    """W3C trace-context carrier so one upload is one trace across every service."""

    model_config = ConfigDict(extra="forbid")

    traceparent: str | None = Field(
        default=None, max_length=128, description="W3C `traceparent` header value"
    )
    tracestate: str | None = Field(
        default=None, max_length=512, description="W3C `tracestate` header value"
    )


class Message(BaseModel):
    """Fields every event and command carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routing_key: ClassVar[str] = ""

    event_id: str = Field(
        default_factory=new_id,
        min_length=1,
        max_length=64,
        description="Unique id of this message; consumers deduplicate on it",
    )
    schema_version: int = Field(
        default=SCHEMA_VERSION, ge=1, description="Version of this message's schema"
    )
    occurred_at: datetime = Field(
        default_factory=utcnow, description="When the fact happened (UTC, ISO 8601)"
    )
    trace: TraceContext = Field(
        default_factory=TraceContext, description="Trace context of the work this belongs to"
    )

    def route(self) -> str:
        """The routing key this message is published with (the class's, unless a message
        chooses one of its own, as a partitioned telemetry batch does)."""
        return type(self).routing_key
