"""Re-analysis with a preset, and the status of analysis tasks."""

from __future__ import annotations

from contracts.lifecycle import analysis_requested, parse_task_id, task_id
from infra.docstore import AnalysisRecord, Track
from infra.web import ApiError
from services.gateway.cache import ReadCache
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import TaskResult, TaskState, TaskStatus
from services.gateway.usecases.versions import give_up_reanalysis, open_reanalysis
from services.gateway.views import map_url, picture_url, require_track

_STATE_OF_STATUS: dict[str, TaskState] = {
    "uploaded": "queued",
    "analyzing": "running",
    "mapped": "running",
    "ready": "succeeded",
    "warning": "succeeded",
}
_STATE_OF_OUTCOME: dict[str, TaskState] = {
    "ready": "succeeded",
    "warning": "succeeded",
    "failed": "failed",
}


async def reanalyse(ports: GatewayPorts, cache: ReadCache, track_id: str, preset: str) -> int:
    """Open version n+1 of a finished track and ask the analyzer for it (the request is
    ``lifecycle.analysis_requested``, the one the reconciler repeats if it is lost); 409 while
    the track is busy, 503 with the version failed when the request cannot be queued."""
    track = await require_track(ports, track_id)
    version = await open_reanalysis(ports, track, preset)
    cache.invalidate(track_id)
    try:
        await ports.publisher.publish(analysis_requested(track, version=version, preset=preset))
    except Exception as exc:  # broker down: the client gets a 503, the track a reason
        raise await give_up_reanalysis(ports, track_id, version, exc) from None
    return version


async def get_task(ports: GatewayPorts, value: str) -> TaskStatus:
    """The task ``value`` (``<track>.v<n>``); 404 for a malformed or unknown one."""
    parsed = parse_task_id(value)
    if parsed is None:
        raise ApiError(404, "not_found", "no such task; ids look like <track_id>.v<n>")
    track = await require_track(ports, parsed[0])
    record = await ports.docs.analyses.get(*parsed)
    if parsed[1] > track.latest_version or (
        record is None and parsed[1] not in (track.analysis_version, track.candidate_version)
    ):
        raise ApiError(404, "not_found", f"no task {value}")
    return task_status(track, parsed[1], record)


def task_status(track: Track, version: int, record: AnalysisRecord | None) -> TaskStatus:
    current = version == track.analysis_version
    state: TaskState
    if version == track.candidate_version:  # an uploaded map being validated
        state, stage, percent, error = "running", "validating", 80.0, None
    elif current:
        state = _STATE_OF_STATUS.get(track.status, "failed")
        stage, percent = track.stage, min(max(track.progress_pct, 0.0), 100.0)
        error = track.error_reason if state == "failed" else None
    else:
        outcome = record.outcome if record else "pending"
        state = _STATE_OF_OUTCOME.get(outcome, "superseded")
        stage, percent = "done", 100.0
        error = (record.error_reason if record else None) or (
            "superseded by a newer analysis version" if state != "succeeded" else None
        )
    result = None
    if state == "succeeded":
        finished = track.status if current or record is None else record.outcome
        result = TaskResult(
            outcome="warning" if finished == "warning" else "ready",
            bpm=record.bpm if record else None,
            warnings=list(record.warnings if record else track.warnings),
            map_url=f"{map_url(track.track_id)}?version={version}",
            picture_url=(
                f"{picture_url(track.track_id)}?version={version}"
                if record and record.plot_key
                else None
            ),
        )
    return TaskStatus(
        task_id=task_id(track.track_id, version),
        track_id=track.track_id,
        analysis_version=version,
        state=state,
        stage=stage,
        percent=percent,
        result=result,
        error=error,
    )
