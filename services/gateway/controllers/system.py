"""Presets, liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusController

from contracts.presets import PRESETS
from infra.web import errors, metrics_guard
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import PresetOut, Readiness
from services.gateway.views import API

CHECK_TIMEOUT_S = 3.0
_PRESETS = [PresetOut(name=p.name, description=p.description) for p in PRESETS]


@get(
    f"{API}/presets",
    opt={"role": "viewer"},
    tags=["presets"],
    responses=errors(401, 403),
    summary="The Genesis presets: names and what they do",
)
async def presets() -> list[PresetOut]:
    return _PRESETS


@get("/health", tags=["system"], summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["system"], summary="Readiness: RabbitMQ, MongoDB, object store (503 if down)")
async def ready(ports: GatewayPorts) -> Response[Readiness]:
    names = list(ports.checks)
    results = await asyncio.gather(*(_run(ports.checks[n]) for n in names))
    checks = dict(zip(names, results, strict=True))
    ok = all(v == "ok" for v in checks.values())
    return Response(
        Readiness(status="ok" if ok else "unavailable", checks=checks),
        status_code=200 if ok else 503,
    )


async def _run(check) -> str:
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_S)
        return "ok"
    except Exception as exc:  # a failing dependency is reported, never raised
        return f"down: {type(exc).__name__}"


class Metrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    guards = [metrics_guard]  # Bearer K1_METRICS_TOKEN when set: the gateway is public
