"""The gateway's Litestar app: REST under /api/v1, live WebSockets, the dashboard, OpenAPI."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar, Response, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import File
from litestar.static_files import create_static_files_router

from contracts.asyncapi import asyncapi_json
from infra.web import EXCEPTION_HANDLERS, auth_guard
from services.gateway.cache import ReadCache
from services.gateway.controllers.analysis import AnalysisController
from services.gateway.controllers.audio import AudioController
from services.gateway.controllers.maps import MapController
from services.gateway.controllers.system import Metrics, health, presets, ready
from services.gateway.controllers.tracks import TrackController
from services.gateway.controllers.uploads import UploadController, put_presigned, upload
from services.gateway.cors import cors_config, vary_on_origin
from services.gateway.devices import DeviceGateway, device_router
from services.gateway.live import ProgressHub
from services.gateway.ports import GatewayConfig, GatewayPorts
from services.gateway.ws import all_events, track_events

STATIC = Path(__file__).parent / "static"


@get("/", include_in_schema=False)
async def dashboard() -> File:
    return File(
        STATIC / "index.html",
        content_disposition_type="inline",
        media_type="text/html; charset=utf-8",
    )


@get("/schema/asyncapi.json", include_in_schema=False)
async def asyncapi() -> Response:
    """The AsyncAPI 3.0 document of the event bus, public like the OpenAPI one beside it."""
    return Response(asyncapi_json(), media_type="application/json")


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="K1 Song Analysis gateway",
        version="1.0.0",
        path="/schema",
        description="Upload songs, follow their analysis live, fetch Genesis Maps v4. "
        "Send `Authorization: Bearer <JWT>` (roles viewer < operator < admin). Errors are "
        "RFC 9457 `application/problem+json`. The events on the message bus are described "
        "by the AsyncAPI document at `/schema/asyncapi.json`.",
        render_plugins=[SwaggerRenderPlugin(), RedocRenderPlugin()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        security=[{"bearer": []}],
    )


def create_app(
    *,
    ports: GatewayPorts,
    cfg: GatewayConfig,
    hub: ProgressHub | None = None,
    cache: ReadCache | None = None,
    lifespan: list | None = None,
    extra_handlers: list | None = None,
    devices: DeviceGateway | None = None,
    plugins: list | None = None,
) -> Litestar:
    hub = hub or ProgressHub(queue_size=cfg.ws_queue_size, max_subscribers=cfg.max_sockets)
    cache = cache or ReadCache(cfg.read_cache_ttl_s)
    metrics = PrometheusConfig(
        app_name="k1_gateway",
        prefix="k1_gateway",
        group_path=True,
        exclude=["/metrics", "/static", "/ws/"],
    )
    app = Litestar(
        route_handlers=[
            TrackController,
            UploadController,
            upload,
            put_presigned,
            AnalysisController,
            MapController,
            AudioController,
            presets,
            health,
            ready,
            Metrics,
            track_events,
            all_events,
            dashboard,
            asyncapi,
            create_static_files_router(
                path="/static", directories=[STATIC], include_in_schema=False
            ),
            *(extra_handlers or []),
            *([device_router(devices)] if devices is not None else []),
        ],
        dependencies={
            name: Provide(_const(value), use_cache=True, sync_to_thread=False)
            for name, value in (("ports", ports), ("cfg", cfg), ("hub", hub), ("cache", cache))
        },
        guards=[auth_guard],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan or [],
        cors_config=cors_config(cfg.cors_origins),
        before_send=[vary_on_origin],
        middleware=[metrics.middleware],
        openapi_config=_openapi(),
        request_max_body_size=64 * 1024,
        debug=False,
        plugins=plugins or [],
        logging_config=None,  # lines go through infra.logging's root handler
    )
    app.state.jwt_secret = cfg.jwt_secret
    app.state.metrics_token = cfg.metrics_token
    app.state.hub, app.state.cache = hub, cache
    return app


def _const(value):
    def provide():
        return value

    return provide
