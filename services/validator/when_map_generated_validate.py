"""map.generated → schema + semantic validation → track ready/warning or failed →
map.validated or map.rejected (with every reason).

An uploaded map is a *candidate* version (``Track.candidate_version``): accepted, it becomes
the current version; rejected, it is dropped on its own — the track keeps its current version,
status and map, and the candidate's analysis record keeps the reasons."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Literal

from contracts.events import MapGenerated, MapRejected, MapValidated, ValidationIssue
from contracts.lifecycle import event_id
from infra.docstore import DocStore, Track
from infra.errors import NotFound
from infra.objectstore import ObjectStore
from infra.publishing import Publisher
from services.validator.domain.rules import ValidationReport, validate_map

KeptStatus = Literal["ready", "warning", "failed"]
"""The status a track keeps when its candidate map is rejected (``MapRejected.kept_status``)."""

log = logging.getLogger("k1.validator")


@dataclass(frozen=True, slots=True)
class ValidatorPorts:
    docs: DocStore
    objects: ObjectStore
    publisher: Publisher


async def validate_generated_map(event: MapGenerated, ports: ValidatorPorts) -> None:
    track_id, version = event.track_id, event.analysis_version
    track = await ports.docs.tracks.get_track(track_id)
    if track is None or version not in (track.analysis_version, track.candidate_version):
        log.info("skipping stale map.generated", extra={"track_id": track_id})
        return
    report = await _check(event, track.audio_sha256, ports.objects)
    if report.ok:
        await _accept(event, report, ports, candidate=version == track.candidate_version)
    else:
        await _reject(event, report.issues, track, ports)


async def _check(event: MapGenerated, audio_sha256: str, objects: ObjectStore) -> ValidationReport:
    try:
        raw = await objects.get_bytes(event.map_key)
    except NotFound:
        return ValidationReport(
            ok=False,
            issues=[
                ValidationIssue(field="map_key", message=f"no map is stored at {event.map_key}")
            ],
        )
    return await asyncio.to_thread(_verify, raw, event.object_sha256, audio_sha256)


def _verify(raw: bytes, object_sha256: str, audio_sha256: str) -> ValidationReport:
    """The announced bytes, then the map itself (off the loop: maps reach 4 MiB)."""
    if hashlib.sha256(raw).hexdigest() != object_sha256:
        return ValidationReport(
            ok=False,
            issues=[
                ValidationIssue(
                    field="map_key",
                    message="the stored map is not the one announced (bytes differ)",
                )
            ],
        )
    return validate_map(raw, expected_audio_sha256=audio_sha256)


async def _accept(
    event: MapGenerated, report: ValidationReport, ports: ValidatorPorts, *, candidate: bool
) -> None:
    """The map's version becomes ``ready``/``warning``: the current one in place, a candidate
    by becoming current."""
    outcome = report.outcome or "ready"
    # The version's record first: a client that sees the track `ready` must find its analysis
    # finished too. The caller checked the version is current (or the candidate), and the
    # verdict on the same map bytes is always the same, so writing it before the guarded
    # track write is safe.
    await ports.docs.analyses.update(
        event.track_id, event.analysis_version, outcome=outcome, warnings=report.warnings
    )
    if candidate:
        moved = await ports.docs.tracks.promote_candidate(
            event.track_id,
            version=event.analysis_version,
            to=outcome,
            preset=event.preset,
            map_key=event.map_key,
            warnings=report.warnings,
        )
    else:
        moved = await ports.docs.tracks.transition(
            event.track_id,
            version=event.analysis_version,
            to=outcome,
            stage="done",
            progress_pct=100,
            warnings=report.warnings,
        )
    if not (moved.applied or moved.is_at(outcome, event.analysis_version)):
        return
    await ports.publisher.publish(
        MapValidated(
            event_id=event_id(event.track_id, event.analysis_version, "validated"),
            track_id=event.track_id,
            analysis_version=event.analysis_version,
            map_key=event.map_key,
            map_sha256=event.map_sha256,
            outcome=outcome,
            warnings=report.warnings[:50],
            trace=event.trace,
        )
    )


async def reject_map(
    event: MapGenerated, issues: list[ValidationIssue], ports: ValidatorPorts
) -> None:
    """Reject the map of ``event`` with ``issues`` (the router's give-up path)."""
    await _reject(event, issues, await ports.docs.tracks.get_track(event.track_id), ports)


async def _reject(
    event: MapGenerated, issues: list[ValidationIssue], track: Track | None, ports: ValidatorPorts
) -> None:
    reason = "; ".join(f"{i.field}: {i.message}" for i in issues[:20])
    if (
        track is not None
        and track.candidate_version == event.analysis_version
        and track.status in ("ready", "warning", "failed")  # always: a candidate opens only then
    ):
        await _drop_candidate(event, issues, reason, track.status, ports)
        return
    moved = await ports.docs.tracks.transition(
        event.track_id,
        version=event.analysis_version,
        to="failed",
        stage="validating",
        error_code="map_rejected",
        error_reason=f"the map failed validation: {reason}"[:2000],
    )
    if not (moved.applied or moved.is_at("failed", event.analysis_version)):
        return
    await ports.docs.analyses.update(
        event.track_id, event.analysis_version, outcome="failed", error_reason=reason[:2000]
    )
    await ports.publisher.publish(_rejected(event, issues, kept_status=None))
    log.warning("map rejected: %s", reason, extra={"track_id": event.track_id})


async def _drop_candidate(
    event: MapGenerated,
    issues: list[ValidationIssue],
    reason: str,
    kept_status: KeptStatus,
    ports: ValidatorPorts,
) -> None:
    """A rejected candidate fails on its own: its record says why, the track keeps its current
    version. Dropped last, so a redelivery after a crash announces the rejection again."""
    await ports.docs.analyses.update(
        event.track_id,
        event.analysis_version,
        outcome="failed",
        error_reason=f"the map failed validation: {reason}"[:2000],
    )
    await ports.publisher.publish(_rejected(event, issues, kept_status=kept_status))
    await ports.docs.tracks.drop_candidate(event.track_id, version=event.analysis_version)
    log.warning(
        "uploaded map v%d rejected, the current version stays: %s",
        event.analysis_version,
        reason,
        extra={"track_id": event.track_id},
    )


def _rejected(
    event: MapGenerated, issues: list[ValidationIssue], *, kept_status: KeptStatus | None
) -> MapRejected:
    return MapRejected(
        event_id=event_id(event.track_id, event.analysis_version, "rejected"),
        track_id=event.track_id,
        analysis_version=event.analysis_version,
        map_key=event.map_key,
        reasons=issues[:200],
        kept_status=kept_status,
        trace=event.trace,
    )
