"""What the gateway's API accepts and returns. Every field is documented; units are in names."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import PresetName
from contracts.lifecycle import TrackStatus

TaskState = Literal["queued", "running", "succeeded", "failed", "superseded"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class TrackSummary(_Out):
    """A track and where its current analysis version is in the lifecycle."""

    track_id: str = Field(description="Track id")
    filename: str = Field(description="Uploaded file name (sanitised)")
    status: TrackStatus = Field(description="uploaded → analyzing → mapped → ready|warning|failed")
    stage: str = Field(description="Current stage of the analysis chain, e.g. `rhythm`")
    progress_pct: float = Field(ge=0, le=100, description="Progress of the chain, 0..100 %")
    analysis_version: int = Field(ge=1, description="Current analysis version (1 = first)")
    preset: str = Field(description="Genesis preset of the current version")
    duration_ms: float | None = Field(description="Audio duration in milliseconds")
    size_bytes: int = Field(description="Size of the stored audio in bytes")
    error_reason: str | None = Field(description="Why the track failed, for humans")
    created_at: datetime = Field(description="When the track was uploaded (UTC)")
    updated_at: datetime = Field(description="Last change (UTC)")


class TrackPage(_Out):
    """One page of tracks, newest first."""

    items: list[TrackSummary] = Field(description="Tracks on this page")
    total: int = Field(ge=0, description="Tracks matching the filter, all pages together")
    limit: int = Field(description="Page size asked for")
    offset: int = Field(description="Tracks skipped before this page")


class AnalysisSummary(_Out):
    """The latest analysis version of a track."""

    version: int = Field(ge=1, description="Analysis version")
    preset: str = Field(description="Genesis preset it used (`external` for an uploaded map)")
    outcome: Literal["pending", "ready", "warning", "failed"] = Field(
        description="pending until the map was validated"
    )
    bpm: float | None = Field(description="Global tempo in beats per minute")
    warnings: list[str] = Field(description="Why a valid map was flagged")
    error_reason: str | None = Field(description="Why this version failed")
    map_sha256: str | None = Field(description="`metadata.hashes.map_sha256` of its map")
    map_url: str | None = Field(description="Where to GET its Genesis Map (JSON)")
    picture_url: str | None = Field(description="Where to GET its picture (PNG)")


class TrackDetail(TrackSummary):
    """A track with its latest analysis summary and the task id of its current version."""

    task_id: str = Field(description="Task id of the current analysis version")
    warnings: list[str] = Field(description="Warnings of the current version")
    analysis: AnalysisSummary | None = Field(description="The current analysis version, if any")
    candidate: AnalysisSummary | None = Field(
        default=None,
        description="The newest uploaded map beyond the current version: "
        "`pending` while it is validated, `failed` with `error_reason` when it was rejected "
        "(the current version is unaffected); null when there is none",
    )


class TrackAccepted(_Out):
    """An accepted upload: the track it became (or already was)."""

    track_id: str = Field(description="Track id")
    status: str = Field(description="Track status right after the upload")
    duplicate: bool = Field(description="True when this audio had been uploaded before")
    audio_sha256: str = Field(description="SHA-256 of the audio bytes")
    filename: str = Field(description="File name as stored (sanitised)")
    size_bytes: int = Field(description="Audio size in bytes")
    duration_ms: float | None = Field(description="Audio duration in milliseconds")
    task_id: str = Field(description="Poll `/api/v1/tasks/{task_id}` for the analysis")


class PresignRequest(BaseModel):
    """Ask for a URL to PUT a large file to, then call the `complete` endpoint."""

    filename: str = Field(default="upload", max_length=255, description="Client file name")
    preset: PresetName | None = Field(
        default=None, description="Genesis preset (default: server's)"
    )


class PresignedUpload(_Out):
    """Where to PUT the audio bytes, until when."""

    upload_id: str = Field(description="Id to pass to the `complete` endpoint")
    upload_url: str = Field(description="PUT the raw audio bytes to this URL")
    expires_at: datetime = Field(description="The URL stops working at this time (UTC)")


class AnalysisRequest(BaseModel):
    """Analyse a track again with a preset."""

    preset: PresetName | None = Field(default=None, description="Preset name, see `/presets`")


class TaskAccepted(_Out):
    """Work was queued; follow it at `status_url` or over the WebSocket."""

    task_id: str = Field(description="`<track_id>.v<version>`")
    track_id: str = Field(description="Track id")
    analysis_version: int = Field(ge=1, description="The analysis version being made")
    status_url: str = Field(description="GET this for the task's state")


class TaskResult(_Out):
    """What a finished analysis made."""

    outcome: Literal["ready", "warning"] = Field(description="`warning`: valid but flagged")
    bpm: float | None = Field(description="Global tempo in beats per minute")
    warnings: list[str] = Field(description="Why the map was flagged")
    map_url: str = Field(description="Where to GET the Genesis Map")
    picture_url: str | None = Field(description="Where to GET the picture (PNG)")


class TaskStatus(_Out):
    """State of one analysis task (one analysis version of a track)."""

    task_id: str = Field(description="`<track_id>.v<version>`")
    track_id: str = Field(description="Track id")
    analysis_version: int = Field(ge=1, description="Analysis version")
    state: TaskState = Field(description="queued, running, succeeded, failed or superseded")
    stage: str = Field(description="Current stage, `done` when finished")
    percent: float = Field(ge=0, le=100, description="Progress, 0..100 %")
    result: TaskResult | None = Field(description="Set when the task succeeded")
    error: str | None = Field(description="Set when the task failed: the reason")


class PresetOut(_Out):
    """A Genesis preset."""

    name: str = Field(description="Name to pass as `preset`")
    description: str = Field(description="What it does to the light show")


class ProgressUpdate(_Out):
    """One message on the live WebSockets: where a track is now."""

    track_id: str = Field(description="Track id")
    version: int = Field(ge=1, description="Analysis version")
    status: str = Field(description="Track status, or `deleted`")
    stage: str = Field(description="Stage of the chain")
    percent: float = Field(ge=0, le=100, description="Progress, 0..100 %")
    error: str | None = Field(default=None, description="Reason when failed")


class Readiness(_Out):
    """Whether every dependency answers."""

    status: Literal["ok", "unavailable"] = Field(description="`ok` when all checks pass")
    checks: dict[str, str] = Field(description="Dependency → `ok` or `down: <reason>`")
