"""Re-analysis with a preset, and the status of analysis tasks."""

from __future__ import annotations

import logging

from litestar import Controller, Response, get, post

from contracts.lifecycle import analysis_requested, parse_task_id
from contracts.lifecycle import task_id as make_task_id
from infra.docstore import FINISHED, AnalysisRecord, Track
from infra.web import ApiError, errors
from services.gateway.cache import ReadCache
from services.gateway.controllers.uploads import check_preset
from services.gateway.ports import GatewayConfig, GatewayPorts
from services.gateway.schemas import AnalysisRequest, TaskAccepted, TaskResult, TaskStatus
from services.gateway.views import API, map_url, picture_url, require_track

log = logging.getLogger("k1.gateway")


def accepted(track_id: str, version: int) -> Response[TaskAccepted]:
    tid = make_task_id(track_id, version)
    return Response(
        TaskAccepted(
            task_id=tid,
            track_id=track_id,
            analysis_version=version,
            status_url=f"{API}/tasks/{tid}",
        ),
        status_code=202,
    )


async def start_version(ports: GatewayPorts, track: Track, preset: str) -> int:
    """Open analysis version n+1 of a finished track; 409 while it is still being analysed."""
    check_idle(track)
    moved = await ports.docs.tracks.start_reanalysis(
        track.track_id, from_version=track.analysis_version, preset=preset
    )
    if not moved.applied or moved.track is None:
        raise ApiError(409, "busy", f"track {track.track_id} changed meanwhile; try again")
    version = moved.track.analysis_version
    await ports.docs.analyses.add(track.track_id, version, preset=preset)
    return version


def check_idle(track: Track) -> None:
    """409 unless the track is finished and no uploaded map is being validated."""
    if track.status not in FINISHED:
        raise ApiError(
            409,
            "busy",
            f"track {track.track_id} is still being analysed "
            f"(status {track.status}); wait until it is finished",
        )
    if track.candidate_version is not None:
        raise ApiError(
            409,
            "busy",
            f"an uploaded map (v{track.candidate_version}) of track "
            f"{track.track_id} is being validated; wait until it is settled",
        )


async def give_up(ports: GatewayPorts, track_id: str, version: int, exc: Exception) -> ApiError:
    """The version could not be queued: fail it with a reason instead of leaving it hanging."""
    log.warning("could not queue analysis: %s", type(exc).__name__, extra={"track_id": track_id})
    await ports.docs.tracks.transition(
        track_id,
        version=version,
        to="failed",
        stage="uploaded",
        error_code="not_queued",
        error_reason="the analysis could not be queued; retry",
    )
    return unavailable()


def unavailable() -> ApiError:
    """The 503 of a version that could not be queued."""
    return ApiError(
        503, "unavailable", "a backing service (broker or store) is unavailable; try again later"
    )


class AnalysisController(Controller):
    path = API
    tags = ["analysis"]

    @post(
        "/tracks/{track_id:str}/analysis",
        opt={"role": "operator"},
        status_code=202,
        responses=errors(400, 401, 403, 404, 409, 422, 503),
        summary="Analyse a track again with a preset (202 with a task id; 409 while busy)",
    )
    async def reanalyse(
        self,
        track_id: str,
        ports: GatewayPorts,
        cfg: GatewayConfig,
        cache: ReadCache,
        data: AnalysisRequest | None = None,
    ) -> Response[TaskAccepted]:
        preset = (data.preset if data else None) or cfg.default_preset
        check_preset(preset)
        track = await require_track(ports, track_id)
        version = await start_version(ports, track, preset)
        cache.invalidate(track_id)
        try:
            await ports.publisher.publish(analysis_requested(track, version=version, preset=preset))
        except Exception as exc:  # broker down: the client gets a 503, the track a reason
            raise await give_up(ports, track_id, version, exc) from None
        return accepted(track_id, version)

    @get(
        "/tasks/{task_id:str}",
        opt={"role": "viewer"},
        responses=errors(400, 401, 403, 404),
        summary="State, stage, percent, result or error of an analysis task",
    )
    async def task(self, task_id: str, ports: GatewayPorts) -> TaskStatus:
        parsed = parse_task_id(task_id)
        if parsed is None:
            raise ApiError(404, "not_found", "no such task; ids look like <track_id>.v<n>")
        track = await require_track(ports, parsed[0])
        record = await ports.docs.analyses.get(*parsed)
        if parsed[1] > track.latest_version or (
            record is None and parsed[1] not in (track.analysis_version, track.candidate_version)
        ):
            raise ApiError(404, "not_found", f"no task {task_id}")
        return task_status(track, parsed[1], record)


def task_status(track: Track, version: int, record: AnalysisRecord | None) -> TaskStatus:
    current = version == track.analysis_version
    if version == track.candidate_version:  # an uploaded map being validated
        state, stage, percent, error = "running", "validating", 80.0, None
    elif current:
        state = {
            "uploaded": "queued",
            "analyzing": "running",
            "mapped": "running",
            "ready": "succeeded",
            "warning": "succeeded",
        }.get(track.status, "failed")
        stage, percent = track.stage, min(max(track.progress_pct, 0.0), 100.0)
        error = track.error_reason if state == "failed" else None
    else:
        outcome = record.outcome if record else "pending"
        state = {"ready": "succeeded", "warning": "succeeded", "failed": "failed"}.get(
            outcome, "superseded"
        )
        stage, percent = "done", 100.0
        error = (record.error_reason if record else None) or (
            "superseded by a newer analysis version" if state != "succeeded" else None
        )
    result = None
    if state == "succeeded":
        outcome = track.status if current else record.outcome  # type: ignore[union-attr]
        result = TaskResult(
            outcome=outcome if outcome in ("ready", "warning") else "ready",
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
        task_id=make_task_id(track.track_id, version),
        track_id=track.track_id,
        analysis_version=version,
        state=state,
        stage=stage,
        percent=percent,
        result=result,
        error=error,
    )
