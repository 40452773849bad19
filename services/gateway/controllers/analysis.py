"""Re-analysis with a preset, and the status of analysis tasks."""

from __future__ import annotations

from litestar import Controller, Response, get, post

from infra.web import errors
from services.gateway.cache import ReadCache
from services.gateway.controllers.common import accepted, check_preset
from services.gateway.ports import GatewayConfig, GatewayPorts
from services.gateway.schemas import AnalysisRequest, TaskAccepted, TaskStatus
from services.gateway.usecases import analysis
from services.gateway.views import API


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
        version = await analysis.reanalyse(ports, cache, track_id, preset)
        return accepted(track_id, version)

    @get(
        "/tasks/{task_id:str}",
        opt={"role": "viewer"},
        responses=errors(400, 401, 403, 404),
        summary="State, stage, percent, result or error of an analysis task",
    )
    async def task(self, task_id: str, ports: GatewayPorts) -> TaskStatus:
        return await analysis.get_task(ports, task_id)
