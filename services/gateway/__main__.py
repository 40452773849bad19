"""``python -m services.gateway``: the gateway's composition root.

Builds the broker, document store and object store from settings, registers the one live
broadcast consumer, starts and stops them with the Litestar lifespan, and serves with uvicorn.
Refuses to start without a JWT secret, or with a weak one unless in dev mode (``build_infra``).
"""

from __future__ import annotations

import contextlib
import sys

import uvicorn
from opentelemetry.sdk.trace import TracerProvider

from infra.logging import configure_logging
from infra.runtime import build_infra, readiness_checks
from infra.settings import Settings, get_settings
from infra.tracing import configure_tracing, http_tracing, propagate_to
from infra.web_objects import objects_router
from services.gateway.app import create_app
from services.gateway.cache import ReadCache
from services.gateway.devices import build_device_gateway
from services.gateway.feed import LiveFeed, register_feed
from services.gateway.live import ProgressHub
from services.gateway.ports import GatewayConfig, GatewayPorts, ingest_client


def build_app(settings: Settings, *, tracer_provider: TracerProvider | None = None):
    infra = build_infra(settings, service="gateway", tracer_provider=tracer_provider)
    secret = settings.jwt_secret.get_secret_value()
    cfg = GatewayConfig(
        jwt_secret=secret,
        max_upload_bytes=settings.max_upload_bytes,
        default_preset=settings.default_preset,
        cors_origins=tuple(settings.cors_origins),
        metrics_token=settings.metrics_token.get_secret_value(),
    )
    hub = ProgressHub(queue_size=cfg.ws_queue_size, max_subscribers=cfg.max_sockets)
    cache = ReadCache(cfg.read_cache_ttl_s)
    register_feed(infra.broker, LiveFeed(hub, cache))
    devices = build_device_gateway(infra)
    ingest = propagate_to(ingest_client(settings.ingest_url), tracer_provider)
    ports = GatewayPorts(
        docs=infra.docs,
        objects=infra.objects,
        publisher=infra.publisher,
        ingest=ingest,
        checks=readiness_checks(infra),
        bundles=devices.devices.bundles,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await infra.docs.ensure_indexes()
        await infra.objects.ensure_ready()
        await infra.broker.start()
        try:
            yield
        finally:
            await infra.broker.stop()
            await ingest.aclose()
            await infra.objects.close()
            await infra.docs.close()

    # Presigned upload URLs of the local folder store point here (settings.public_url).
    extra = [objects_router(infra.objects, max_put_bytes=settings.max_upload_bytes)]
    return create_app(
        ports=ports,
        cfg=cfg,
        hub=hub,
        cache=cache,
        lifespan=[lifespan, devices.lifespan],
        devices=devices,
        extra_handlers=extra,
        plugins=[http_tracing(tracer_provider)],
    )


def main() -> int:
    settings = get_settings()
    configure_logging("gateway", fmt=settings.log_format, level=settings.log_level)
    configure_tracing("gateway", settings)
    try:
        app = build_app(settings)
    except RuntimeError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.gateway_port,
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        ws_max_size=256 * 1024,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
