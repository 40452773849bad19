"""The analyzer's routing in one place: which queue feeds which reaction."""

from __future__ import annotations

import asyncio
import json
import logging

from contracts.events import AnalysisRequested, BeatsDetected, TrackUploaded
from contracts.topology import subscription
from infra.broker import subscribe
from infra.runtime import Infra
from services.analyzer.ports import AnalyzerPorts
from services.analyzer.progress import fail
from services.analyzer.when_beats_detected_build_map import build_track_map
from services.analyzer.when_track_uploaded_analyse import analyse_track
from services.analyzer.work import AnalysisPool

log = logging.getLogger("k1.analyzer")


def register(infra: Infra, ports: AnalyzerPorts, *, analysis_slots: int) -> None:
    broker = infra.broker

    async def give_up(msg: object, error: str) -> None:
        """After the delivery limit: the track fails with the reason instead of hanging."""
        ids = _ids(msg)
        if ids is not None:
            await fail(
                ports.docs,
                ports.publisher,
                track_id=ids[0],
                version=ids[1],
                stage="decoding",
                code="gave_up",
                reason=f"analysis kept failing: {error}",
            )

    @subscribe(
        broker,
        subscription("analyzer", "track.uploaded"),
        TrackUploaded,
        on_give_up=give_up,
        prefetch=analysis_slots,
    )
    async def on_track_uploaded(msg: TrackUploaded) -> None:
        await analyse_track(msg, ports)

    @subscribe(
        broker,
        subscription("analyzer", "cmd.analysis.request"),
        AnalysisRequested,
        on_give_up=give_up,
        prefetch=analysis_slots,
    )
    async def on_analysis_requested(msg: AnalysisRequested) -> None:
        await analyse_track(msg, ports)

    @subscribe(
        broker,
        subscription("genesis", "beats.detected"),
        BeatsDetected,
        on_give_up=give_up,
        prefetch=analysis_slots,
    )
    async def on_beats_detected(msg: BeatsDetected) -> None:
        await build_track_map(msg, ports)


def _ids(msg: object) -> tuple[str, int] | None:
    """Track and version of a given-up message: the typed one, or the raw body of a poison one."""
    if isinstance(msg, TrackUploaded | AnalysisRequested | BeatsDetected):
        return msg.track_id, msg.analysis_version
    if not isinstance(msg, str | bytes | bytearray):
        return None
    try:
        body = json.loads(msg)
        return str(body["track_id"]), int(body.get("analysis_version", 1))
    except (ValueError, TypeError, KeyError):
        return None


async def setup(infra: Infra):
    """Composition root of the analyzer: pool, ports, subscriptions."""
    workers = infra.settings.analysis_workers
    pool = AnalysisPool(workers, tasks_per_worker=infra.settings.analysis_tasks_per_worker)
    await asyncio.to_thread(pool.warm_up)
    ports = AnalyzerPorts(
        docs=infra.docs,
        objects=infra.objects,
        publisher=infra.publisher,
        runner=pool,
        max_duration_s=infra.settings.max_duration_s,
    )
    register(infra, ports, analysis_slots=workers)

    async def cleanup() -> None:
        pool.shutdown()

    return cleanup
