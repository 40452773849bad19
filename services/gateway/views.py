"""Shaping stored records into API schemas, and the reads every controller shares."""

from __future__ import annotations

import re
from typing import Literal

from contracts.base import ID_PATTERN
from contracts.lifecycle import task_id
from infra.docstore import AnalysisRecord, Track
from infra.web import ApiError
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import AnalysisSummary, TrackDetail, TrackSummary

API = "/api/v1"
_TRACK_ID = re.compile(ID_PATTERN)


def check_track_id(track_id: str) -> str:
    """A track id that cannot exist is simply unknown (404), like any other."""
    if not _TRACK_ID.match(track_id):
        raise ApiError(404, "not_found", "no such track")
    return track_id


async def require_track(ports: GatewayPorts, track_id: str) -> Track:
    track = await ports.docs.tracks.get_track(check_track_id(track_id))
    if track is None:
        raise ApiError(404, "not_found", f"no track {track_id}")
    return track


def summary(track: Track) -> TrackSummary:
    return TrackSummary(**_summary_fields(track))


def _summary_fields(track: Track) -> dict:
    return {
        "track_id": track.track_id,
        "filename": track.filename,
        "status": track.status,
        "stage": track.stage,
        "progress_pct": min(max(track.progress_pct, 0.0), 100.0),
        "analysis_version": track.analysis_version,
        "preset": track.preset,
        "duration_ms": track.duration_ms,
        "size_bytes": track.size_bytes,
        "error_reason": track.error_reason,
        "created_at": track.created_at,
        "updated_at": track.updated_at,
    }


def map_url(track_id: str) -> str:
    return f"{API}/tracks/{track_id}/genesis-map"


def picture_url(track_id: str) -> str:
    return f"{API}/tracks/{track_id}/picture.png"


def analysis_summary(record: AnalysisRecord) -> AnalysisSummary:
    return AnalysisSummary(
        version=record.version,
        preset=record.preset,
        outcome=record.outcome,
        bpm=record.bpm,
        warnings=list(record.warnings),
        error_reason=record.error_reason,
        map_sha256=record.map_sha256,
        map_url=f"{map_url(record.track_id)}?version={record.version}" if record.map_key else None,
        picture_url=(
            f"{picture_url(record.track_id)}?version={record.version}" if record.plot_key else None
        ),
    )


def detail(
    track: Track, current: AnalysisRecord | None, candidate: AnalysisRecord | None = None
) -> TrackDetail:
    return TrackDetail(
        **_summary_fields(track),
        task_id=task_id(track.track_id, track.analysis_version),
        warnings=list(track.warnings),
        analysis=analysis_summary(current) if current else None,
        candidate=analysis_summary(candidate) if candidate else None,
    )


async def load_detail(ports: GatewayPorts, track: Track) -> TrackDetail:
    """The track with its current version's analysis and, when the newest version is an
    uploaded map beyond it (being validated, or rejected), that one as ``candidate``."""
    latest = await ports.docs.analyses.latest(track.track_id)
    if latest is None or latest.version <= track.analysis_version:
        return detail(track, latest)
    current = await ports.docs.analyses.get(track.track_id, track.analysis_version)
    return detail(track, current, latest)


async def newest_with(
    ports: GatewayPorts,
    track: Track,
    attr: Literal["map_key", "plot_key"],
    version: int | None,
) -> tuple[AnalysisRecord, str]:
    """The analysis version asked for, or the newest one up to the current version that has
    ``attr`` (a map, a picture) and did not fail — never an uploaded map still being validated
    or rejected beyond it — and its ``attr``; 404 when there is none."""
    track_id = track.track_id
    if version is not None:
        record = await ports.docs.analyses.get(track_id, version)
        key = None if record is None else getattr(record, attr)
        if record is None or key is None:
            raise ApiError(404, "not_found", f"analysis v{version} of {track_id} has none")
        return record, key
    for record in reversed(await ports.docs.analyses.list_for_track(track_id)):
        key = getattr(record, attr)
        if (
            record.version <= track.analysis_version
            and key is not None
            and record.outcome != "failed"
        ):
            return record, key
    raise ApiError(404, "not_found", f"track {track_id} has none yet")
