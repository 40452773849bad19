"""The track's journey, in one place: statuses, allowed moves, every event id and object key,
and the event that moves a track on from where it waits.

Change the pipeline here. Ids and keys are *stored*: object keys in documents, event ids in
every consumer's processed-events ledger and in deterministic re-announcements, so a format
that changed in one service only would silently break deduplication or orphan stored objects.
``tests/unit/test_lifecycle.py`` pins every format; ``tests/unit/test_lifecycle_owner.py``
fails when an id or key is built anywhere else. Pure: no broker, no store, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from contracts.base import Message, TraceContext
from contracts.events import AnalysisRequested, MapGenerated, TrackUploaded

# ------------------------------------------------------------------------------- statuses

TrackStatus = Literal["uploaded", "analyzing", "mapped", "ready", "warning", "failed"]
TRACK_STATUSES: tuple[str, ...] = get_args(TrackStatus)
FINISHED: tuple[str, ...] = ("ready", "warning", "failed")
WAITING: tuple[str, ...] = ("uploaded", "analyzing", "mapped")
"""A worker still owes a track in these states an event (the reconciler re-announces it)."""
DEPLOYABLE: tuple[str, ...] = ("ready", "warning")
"""A validated current version: its map is served and its bundle may go to devices."""
PROGRESSING: tuple[str, ...] = ("analyzing", "mapped")
"""States whose progress (stage, percent) is still being reported."""
ALLOWED_FROM: Mapping[str, tuple[str, ...]] = {
    "analyzing": ("uploaded",),
    "mapped": ("analyzing",),
    "ready": ("mapped",),
    "warning": ("mapped",),
    "failed": ("uploaded", "analyzing", "mapped"),
}
"""Target state -> states a track may be in to be moved there within one version.
A new version (re-analysis, or an uploaded map as a candidate) opens only from ``FINISHED``
with no candidate open (:func:`is_idle`); a candidate becomes current as ready or warning."""
STATUS_AT_DROPPED = ("analyzing", "mapped", *FINISHED)
"""States whose entry times belong to one version: cleared when another becomes current."""


class TrackFacts(Protocol):
    """What the lifecycle reads of a track (``infra.docstore.Track`` has it)."""

    @property
    def track_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def analysis_version(self) -> int: ...
    @property
    def candidate_version(self) -> int | None: ...
    @property
    def audio_key(self) -> str: ...
    @property
    def audio_sha256(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def duration_ms(self) -> float | None: ...
    @property
    def preset(self) -> str: ...


def check_status(status: str) -> None:
    if status not in TRACK_STATUSES:
        raise ValueError(f"unknown track status {status!r}; expected one of {TRACK_STATUSES}")


def is_idle(track: TrackFacts) -> bool:
    """Finished, and no uploaded map is being validated: a new version may open, the track
    may be deleted — no worker is about to write for it."""
    return track.status in FINISHED and track.candidate_version is None


def next_version(latest_version: int, analysis_version: int) -> int:
    """The number the next version gets: never one handed out before (a rejected candidate's
    number is not reused)."""
    return max(latest_version, analysis_version) + 1


def transition_fields(
    to: str,
    *,
    stage: str | None = None,
    progress_pct: float | None = None,
    error_code: str | None = None,
    error_reason: str | None = None,
    warnings: Sequence[str] | None = None,
    map_key: str | None = None,
) -> dict[str, Any]:
    """The track fields a move within one version to ``to`` sets (timestamps excluded)."""
    check_status(to)
    if to not in ALLOWED_FROM:
        raise ValueError(f"a track cannot be moved to {to!r} by transition()")
    fields: dict[str, Any] = {"status": to}
    if to in ("ready", "warning"):
        fields.update(stage="done", progress_pct=100.0)
    if stage is not None:
        fields["stage"] = stage
    if progress_pct is not None:
        fields["progress_pct"] = float(progress_pct)
    if to == "failed":
        fields["error_code"] = error_code or "failed"
        fields["error_reason"] = error_reason or "unknown error"
    if warnings is not None:
        fields["warnings"] = list(warnings)
    if map_key is not None:
        fields["map_key"] = map_key
    return fields


def reanalysis_fields(preset: str, version: int) -> dict[str, Any]:
    """A finished track analysed again: version ``version`` starts in ``analyzing``."""
    return {
        "status": "analyzing",
        "preset": preset,
        "stage": "uploaded",
        "progress_pct": 0.0,
        "error_code": None,
        "error_reason": None,
        "warnings": [],
        "map_key": None,
        "analysis_version": version,
        "latest_version": version,
    }


def promotion_fields(
    to: str, *, version: int, preset: str, map_key: str, warnings: Sequence[str]
) -> dict[str, Any]:
    """A validated candidate ``version`` becomes the current version, ``to``."""
    if to not in ("ready", "warning"):
        raise ValueError(f"a candidate becomes ready or warning, not {to!r}")
    return {
        "status": to,
        "analysis_version": version,
        "preset": preset,
        "stage": "done",
        "progress_pct": 100.0,
        "error_code": None,
        "error_reason": None,
        "warnings": list(warnings),
        "map_key": map_key,
        "candidate_version": None,
    }


def dropped_status_at(entered: str) -> tuple[str, ...]:
    """The ``status_at`` entries a version becoming current in state ``entered`` clears (its
    own is stamped anew)."""
    return tuple(s for s in STATUS_AT_DROPPED if s != entered)


# ------------------------------------------------------------------------------- event ids

Step = Literal["uploaded", "request", "beats", "map", "validated", "rejected", "failed", "bundled"]
"""The steps of one track version; each has one deterministic event id."""
MAX_ID_CHARS = 64


def task_id(track_id: str, version: int) -> str:
    """The id a client polls for one analysis version: ``<track>.v<n>``."""
    return f"{track_id}.v{version}"


def parse_task_id(value: str) -> tuple[str, int] | None:
    """``(track_id, version)`` of a task id, or None when it is not one."""
    track, sep, version = value.rpartition(".v")
    if not sep or not track or not version.isdigit() or len(version) > 6:
        return None
    return track, int(version)


def event_id(track_id: str, version: int, step: Step) -> str:
    """The id of ``step`` of a track version (``<track>.v<n>.<step>``): every producer of the
    same step (a handler, the reconciler, the gateway) publishes the same id."""
    return f"{task_id(track_id, version)}.{step}"


def _bounded(*parts: object) -> str:
    """``parts`` joined by dots; its SHA-256 when that would exceed ``MAX_ID_CHARS``."""
    text = ".".join(str(p) for p in parts)
    return text if len(text) <= MAX_ID_CHARS else hashlib.sha256(text.encode()).hexdigest()


def deployment_requested_id(deployment_id: str) -> str:
    return _bounded(deployment_id, "requested")


def offer_id(deployment_id: str, device_id: str, attempt: int) -> str:
    return _bounded(deployment_id, device_id, "offer", attempt)


def delivered_id(deployment_id: str, device_id: str, attempt: int) -> str:
    return _bounded(deployment_id, device_id, "delivered", attempt)


def deployed_id(deployment_id: str, outcomes_digest: str) -> str:
    """Of one set of outcomes, so a repeated completion check announces it once."""
    return _bounded(deployment_id, "deployed", outcomes_digest)


def alert_id(device_id: str, stamp_ms: int) -> str:
    """A redelivered telemetry batch re-raises the same alert, which consumers dedupe."""
    return _bounded("alert", device_id, stamp_ms)


def telemetry_part_id(batch_event_id: str, partition: int) -> str:
    """A telemetry batch split per partition: ``<batch id>.pNN`` (the batch id cut to fit
    64 characters), so a redelivered batch republishes the same ids."""
    return f"{batch_event_id[: MAX_ID_CHARS - 5]}.p{partition:02d}"


# ----------------------------------------------------------------------------- object keys

NO_BUNDLE_KEY = "bundles/none"
"""What a deployment records when the track has no bundle (every device fails at once)."""
_PER_TRACK = ("analyses", "maps", "bundles")


def audio_key(audio_sha256: str, fmt: str) -> str:
    """One object per audio content, whoever uploads it."""
    return f"audio/{audio_sha256}.{fmt}"


def upload_key(upload_id: str) -> str:
    """Where a presigned upload lands before it becomes audio."""
    return f"incoming/{upload_id}"


def analysis_key(track_id: str, version: int) -> str:
    return f"analyses/{track_id}/v{version}/analysis.json"


def map_key(track_id: str, version: int) -> str:
    """The Genesis Map of a version, analysed or uploaded."""
    return f"maps/{track_id}/v{version}/map.json"


def plot_key(track_id: str, version: int) -> str:
    return f"maps/{track_id}/v{version}/map.png"


def bundle_key(track_id: str, version: int) -> str:
    return f"bundles/{track_id}/v{version}/bundle.k1b"


def track_prefixes(track_id: str) -> tuple[str, ...]:
    """Every per-version object of a track lives under one of these (audio is shared)."""
    return tuple(f"{kind}/{track_id}/" for kind in _PER_TRACK)


# ------------------------------------------------------------- the events that move it on


@dataclass(frozen=True, slots=True)
class StoredMap:
    """A version's map as stored: what ``map.generated`` announces."""

    map_key: str
    map_sha256: str
    """``metadata.hashes.map_sha256`` of the map."""
    object_sha256: str
    """SHA-256 of the stored bytes (the validator compares it)."""
    size_bytes: int
    preset: str
    plot_key: str | None = None
    warnings: Sequence[str] = ()


def track_uploaded(track: TrackFacts) -> TrackUploaded:
    """``track.uploaded`` of the track's current version (ingest, and the reconciler)."""
    return TrackUploaded(
        event_id=event_id(track.track_id, track.analysis_version, "uploaded"),
        track_id=track.track_id,
        analysis_version=track.analysis_version,
        audio_key=track.audio_key,
        audio_sha256=track.audio_sha256,
        filename=track.filename,
        content_type=track.content_type,
        size_bytes=track.size_bytes,
        duration_ms=track.duration_ms,
        preset=track.preset,
    )


def analysis_requested(track: TrackFacts, *, version: int, preset: str) -> AnalysisRequested:
    """``cmd.analysis.request`` for version ``version`` of ``track``'s audio (the gateway's
    re-analysis, and the reconciler)."""
    return AnalysisRequested(
        event_id=event_id(track.track_id, version, "request"),
        track_id=track.track_id,
        analysis_version=version,
        audio_key=track.audio_key,
        audio_sha256=track.audio_sha256,
        filename=track.filename,
        preset=preset,
        task_id=task_id(track.track_id, version),
    )


def map_generated(
    track_id: str,
    version: int,
    stored: StoredMap,
    *,
    candidate: bool = False,
    trace: TraceContext | None = None,
) -> MapGenerated:
    """``map.generated`` of a stored map (the analyzer, an uploaded map, the reconciler)."""
    return MapGenerated(
        event_id=event_id(track_id, version, "map"),
        track_id=track_id,
        analysis_version=version,
        map_key=stored.map_key,
        map_sha256=stored.map_sha256,
        object_sha256=stored.object_sha256,
        map_size_bytes=stored.size_bytes,
        preset=stored.preset,
        plot_key=stored.plot_key,
        warnings=list(stored.warnings)[:50],
        candidate=candidate,
        trace=trace or TraceContext(),
    )


def waiting_version(track: TrackFacts) -> int:
    """The version a waiting track waits with: an open candidate's, else the current one."""
    return (
        track.candidate_version if track.candidate_version is not None else track.analysis_version
    )


def waits_for_validation(track: TrackFacts) -> bool:
    """Its map is stored and awaits the validator: moving it on needs the stored map."""
    return track.candidate_version is not None or track.status == "mapped"


def event_moving_on(track: TrackFacts, stored: StoredMap | None = None) -> Message:
    """The event that moves ``track`` on from where it waits; publishing it again is safe
    (same id, guarded transitions). ``stored``: the waiting version's map, when
    :func:`waits_for_validation`."""
    if waits_for_validation(track):
        if stored is None:
            raise ValueError(f"track {track.track_id} waits for validation: give its map")
        candidate = track.candidate_version is not None
        return map_generated(track.track_id, waiting_version(track), stored, candidate=candidate)
    if track.status == "uploaded" or (track.status == "analyzing" and track.analysis_version == 1):
        return track_uploaded(track)
    if track.status == "analyzing":
        return analysis_requested(track, version=track.analysis_version, preset=track.preset)
    raise ValueError(f"track {track.track_id} is {track.status}: it waits for nothing")
