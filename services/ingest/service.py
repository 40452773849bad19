"""Ingest use cases: accept spooled audio, record the track, announce it. Ports come in."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from contracts.base import new_id
from contracts.lifecycle import audio_key as audio_key_of
from contracts.lifecycle import track_uploaded
from infra.docstore import DocStore, NewTrack, Track
from infra.objectstore import ObjectStore
from infra.publishing import Publisher
from services.ingest.domain import SNIFFED_MEDIA_TYPE, check_probe, require_format
from services.ingest.spool import Spooled, probe_file
from services.ingest.uploads import PresignedUploads

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestPorts:
    docs: DocStore
    objects: ObjectStore
    publisher: Publisher
    uploads: PresignedUploads | None = None
    """Presigned uploads (their records and URL signer); None where none are offered."""


@dataclass(frozen=True, slots=True)
class Accepted:
    track: Track
    duplicate: bool


async def accept_audio(
    spooled: Spooled, *, filename: str, preset: str, max_duration_s: float, ports: IngestPorts
) -> Accepted:
    """Check the spooled file is real, decodable audio of a sane length, store it once per
    content hash, create (or find) its track and announce it. Raises IngestError subclasses."""
    fmt = require_format(spooled.head)
    probe = await asyncio.to_thread(probe_file, spooled.path, fmt=fmt)
    check_probe(probe, max_duration_s=max_duration_s)
    existing = await ports.docs.tracks.find_by_sha256(spooled.sha256)
    if existing is not None:
        await _reannounce_if_waiting(existing, ports)
        return Accepted(track=existing, duplicate=True)
    audio_key = audio_key_of(spooled.sha256, fmt)
    with spooled.path.open("rb") as source:
        await ports.objects.put_stream(
            audio_key, source, length=spooled.size_bytes, content_type=SNIFFED_MEDIA_TYPE[fmt]
        )
    created = await ports.docs.tracks.create_track(
        NewTrack(
            track_id=new_id(),
            audio_sha256=spooled.sha256,
            audio_key=audio_key,
            filename=filename,
            content_type=SNIFFED_MEDIA_TYPE[fmt],
            size_bytes=spooled.size_bytes,
            preset=preset,
            duration_ms=round(probe.duration_s * 1000.0, 1),
        )
    )
    track = created.track
    if created.created:
        await ports.docs.analyses.add(track.track_id, 1, preset=preset)
    await _reannounce_if_waiting(track, ports)
    return Accepted(track=track, duplicate=not created.created)


async def _reannounce_if_waiting(track: Track, ports: IngestPorts) -> None:
    """Publish ``track.uploaded`` for a track still waiting in ``uploaded`` (first time, or a
    repeat after a publish that never made it); consumers deduplicate on track + version."""
    if track.status != "uploaded":
        return
    await ports.publisher.publish(track_uploaded(track))
    log.info("track uploaded", extra={"track_id": track.track_id})
