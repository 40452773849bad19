"""Telling the world how a track's analysis goes: progress, and failure with a reason."""

from __future__ import annotations

import logging

from contracts.events import AnalysisFailed, AnalysisProgress, Stage
from contracts.lifecycle import event_id
from infra.docstore import DocStore
from infra.publishing import Publisher

log = logging.getLogger("k1.analyzer")


async def report(
    docs: DocStore,
    publisher: Publisher,
    *,
    track_id: str,
    version: int,
    stage: Stage,
    percent: float,
) -> None:
    await docs.tracks.record_progress(track_id, version=version, stage=stage, percent=percent)
    await publisher.publish(
        AnalysisProgress(track_id=track_id, analysis_version=version, stage=stage, percent=percent)
    )


async def fail(
    docs: DocStore,
    publisher: Publisher,
    *,
    track_id: str,
    version: int,
    stage: Stage,
    code: str,
    reason: str,
) -> None:
    """Mark the track version failed with a human reason and announce it (idempotent)."""
    moved = await docs.tracks.transition(
        track_id,
        version=version,
        to="failed",
        stage=stage,
        error_code=code,
        error_reason=reason[:2000],
    )
    if not (moved.applied or moved.is_at("failed", version)):
        return
    await docs.analyses.update(track_id, version, outcome="failed", error_reason=reason[:2000])
    await publisher.publish(
        AnalysisFailed(
            event_id=event_id(track_id, version, "failed"),
            track_id=track_id,
            analysis_version=version,
            stage=stage,
            error_code=code,
            reason=reason[:2000],
        )
    )
    log.warning("analysis failed: %s", reason, extra={"track_id": track_id})
