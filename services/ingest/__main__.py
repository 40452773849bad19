"""``python -m services.ingest``: the ingest HTTP service (composition root)."""

from __future__ import annotations

import contextlib

import uvicorn
from litestar import get
from litestar.response import Response
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from infra.docstore_uploads import MongoUploadRepo
from infra.health import run_checks
from infra.logging import configure_logging
from infra.periodic import PeriodicTask
from infra.runtime import build_infra, readiness_checks
from infra.settings import Settings, get_settings
from infra.tracing import configure_tracing, http_tracing
from infra.uploads import UploadSettings
from infra.web import metrics_guard
from infra.web_objects import objects_router
from services.ingest.app import IngestConfig, create_app
from services.ingest.reconciler import Reconciler
from services.ingest.service import IngestPorts
from services.ingest.uploads import PresignedUploads, UploadSweeper, upload_signer


@get("/metrics", include_in_schema=False, guards=[metrics_guard])
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _ready_route(infra):
    checks = readiness_checks(infra)

    @get("/ready", include_in_schema=False)
    async def ready() -> Response:
        results = await run_checks(checks)
        ok = all(v == "ok" for v in results.values())
        return Response(
            {"status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    return ready


def build_app(
    settings: Settings | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    upload_settings: UploadSettings | None = None,
):
    settings = settings or get_settings()
    limits = upload_settings or UploadSettings()
    infra_holder: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        infra = infra_holder["infra"]
        await infra.docs.ensure_indexes()
        await uploads.ensure_indexes()
        await infra.objects.ensure_ready()
        if limits.spool_dir is not None:
            limits.spool_dir.mkdir(parents=True, exist_ok=True)
        await infra.broker.start()
        reconciler = PeriodicTask(
            Reconciler(
                infra.docs, infra.objects, infra.publisher, stuck_after_s=settings.stuck_after_s
            ).sweep,
            interval_s=settings.reconcile_interval_s,
            name="k1-reconciler",
        )
        sweeper = PeriodicTask(
            UploadSweeper(uploads, infra.objects).sweep,
            interval_s=limits.sweep_interval_s,
            name="k1-upload-sweeper",
        )
        try:
            yield
        finally:
            await sweeper.stop()
            await reconciler.stop()
            await infra.broker.stop()
            await infra.objects.close()
            await infra.docs.close()

    infra = build_infra(settings, service="ingest", tracer_provider=tracer_provider)
    infra_holder["infra"] = infra
    cfg = IngestConfig(
        max_upload_bytes=settings.max_upload_bytes,
        max_duration_s=settings.max_duration_s,
        default_preset=settings.default_preset,
        jwt_secret=settings.jwt_secret.get_secret_value(),
        metrics_token=settings.metrics_token.get_secret_value(),
        spool_dir=limits.spool_dir,
    )
    uploads = MongoUploadRepo(infra.docs)
    signer = upload_signer(settings.jwt_secret.get_secret_value(), public_url=settings.public_url)
    ports = IngestPorts(
        docs=infra.docs,
        objects=infra.objects,
        publisher=infra.publisher,
        uploads=PresignedUploads(uploads, infra.objects, signer, ttl_s=limits.url_ttl_s),
    )
    extra = [
        metrics,
        _ready_route(infra),
        objects_router(infra.objects, max_put_bytes=settings.max_upload_bytes),
    ]
    return create_app(
        ports=ports,
        cfg=cfg,
        lifespan=[lifespan],
        extra_handlers=extra,
        plugins=[http_tracing(tracer_provider)],
    ), settings


def main() -> None:
    settings = get_settings()
    configure_logging("ingest", fmt=settings.log_format, level=settings.log_level)
    configure_tracing("ingest", settings)
    try:
        app, settings = build_app(settings)
    except RuntimeError as exc:  # e.g. a missing or weak K1_JWT_SECRET: say why, no traceback
        raise SystemExit(f"ingest: {exc}") from None
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.ingest_port,
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


if __name__ == "__main__":
    main()
