"""beats.detected → Genesis engine (preset) → map + picture stored → map.generated."""

from __future__ import annotations

import hashlib
import json
import logging

from contracts.events import BeatsDetected
from contracts.lifecycle import PROGRESSING, StoredMap, map_generated, map_key, plot_key
from services.analyzer.ports import AnalyzerPorts
from services.analyzer.progress import report
from services.analyzer.work import build_map_and_picture

log = logging.getLogger("k1.analyzer")


async def build_track_map(event: BeatsDetected, ports: AnalyzerPorts) -> None:
    track_id, version = event.track_id, event.analysis_version
    track = await ports.docs.tracks.get_track(track_id)
    if track is None or track.analysis_version != version or track.status not in PROGRESSING:
        log.info("skipping stale beats.detected", extra={"track_id": track_id})
        return
    await report(
        ports.docs, ports.publisher, track_id=track_id, version=version, stage="genesis", percent=70
    )
    artefact = await ports.objects.get_bytes(event.analysis_key)
    # The map's timestamp is the event's, so a redelivery rebuilds byte-identical objects.
    map_bytes, png = await ports.runner.run(
        build_map_and_picture,
        artefact,
        preset=event.preset,
        filename=event.filename,
        audio_sha256=event.audio_sha256,
        title=event.filename,
        timestamp_utc=event.occurred_at,
    )
    m_key, p_key = map_key(track_id, version), plot_key(track_id, version)
    await ports.objects.put_bytes(m_key, map_bytes, content_type="application/json")
    await ports.objects.put_bytes(p_key, png, content_type="image/png")
    map_sha256 = json.loads(map_bytes)["metadata"]["hashes"]["map_sha256"]
    await ports.docs.analyses.update(
        track_id, version, map_key=m_key, map_sha256=map_sha256, plot_key=p_key
    )
    moved = await ports.docs.tracks.transition(
        track_id, version=version, to="mapped", stage="validating", progress_pct=80, map_key=m_key
    )
    if not (moved.applied or moved.is_at("mapped", version)):
        return
    stored = StoredMap(
        map_key=m_key,
        map_sha256=map_sha256,
        object_sha256=hashlib.sha256(map_bytes).hexdigest(),
        size_bytes=len(map_bytes),
        preset=event.preset,
        plot_key=p_key,
        warnings=event.warnings,
    )
    await ports.publisher.publish(map_generated(track_id, version, stored, trace=event.trace))
