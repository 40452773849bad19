"""track.uploaded / cmd.analysis.request → analyse in the pool → store artefact → beats.detected."""

from __future__ import annotations

import logging
import os
import tempfile
import time

from opentelemetry import trace

from contracts.events import AnalysisRequested, BeatsDetected, TrackUploaded
from contracts.lifecycle import analysis_key, event_id
from infra.metrics import observe_analysis
from services.analyzer.domain.errors import AnalysisError
from services.analyzer.ports import AnalyzerPorts
from services.analyzer.progress import fail, report
from services.analyzer.work import analyse_file

log = logging.getLogger("k1.analyzer")


async def analyse_track(job: TrackUploaded | AnalysisRequested, ports: AnalyzerPorts) -> None:
    track_id, version = job.track_id, job.analysis_version
    moved = await ports.docs.tracks.transition(
        track_id, version=version, to="analyzing", stage="decoding", progress_pct=5
    )
    track = moved.track
    if track is None or not (moved.applied or moved.is_at("analyzing", version)):
        log.info("skipping stale or finished analysis job", extra={"track_id": track_id})
        return
    await report(
        ports.docs,
        ports.publisher,
        track_id=track_id,
        version=version,
        stage="decoding",
        percent=10,
    )
    try:
        artefact, summary = await _analyse(job.audio_key, ports)
    except AnalysisError as exc:
        await fail(
            ports.docs,
            ports.publisher,
            track_id=track_id,
            version=version,
            stage="decoding",
            code=exc.code,
            reason=exc.message,
        )
        return
    key = analysis_key(track_id, version)
    await ports.objects.put_bytes(key, artefact, content_type="application/json")
    await ports.docs.analyses.update(
        track_id, version, analysis_key=key, bpm=summary["bpm"], warnings=summary["warnings"]
    )
    await report(
        ports.docs,
        ports.publisher,
        track_id=track_id,
        version=version,
        stage="sections",
        percent=60,
    )
    await ports.publisher.publish(
        BeatsDetected(
            event_id=event_id(track_id, version, "beats"),
            track_id=track_id,
            analysis_version=version,
            analysis_key=key,
            audio_key=job.audio_key,
            audio_sha256=job.audio_sha256,
            filename=job.filename,
            preset=job.preset,
            bpm=min(summary["bpm"], 300.0),
            beat_count=summary["beat_count"],
            duration_ms=summary["duration_ms"],
            warnings=summary["warnings"][:50],
            trace=job.trace,
            # The map's timestamp comes from here: the moment this version started analysing, so
            # a duplicate job (a redelivery racing a re-announcement) builds byte-identical maps.
            occurred_at=track.status_at.get("analyzing", job.occurred_at),
        )
    )


async def _analyse(audio_key: str, ports: AnalyzerPorts) -> tuple[bytes, dict]:
    """Copy the audio to a temp file (streamed) and analyse it in the process pool."""
    fd, path = tempfile.mkstemp(prefix="k1-analyse-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in ports.objects.iter_chunks(audio_key):
                out.write(chunk)
        # The pool process is not traced; its work is this span, timed from the parent side.
        with trace.get_tracer("k1.analyzer").start_as_current_span("analysis") as span:
            started = time.perf_counter()
            artefact, summary = await ports.runner.run(
                analyse_file, path, max_duration_s=ports.max_duration_s
            )
            seconds = time.perf_counter() - started
            span.set_attributes(
                {
                    "k1.audio_key": audio_key,
                    "k1.analysis_s": seconds,
                    "k1.audio_duration_ms": summary["duration_ms"],
                }
            )
        observe_analysis(seconds, summary["duration_ms"] / 1000.0)
        return artefact, summary
    finally:
        os.unlink(path)
