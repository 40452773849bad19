"""The one way a worker service process starts and stops.

``run_worker`` is the composition root's skeleton: it builds the broker, the document store and
the object store from settings, lets the service register its subscribers, serves
``/healthz``/``/readyz``/``/metrics``, and on SIGTERM/SIGINT stops consuming, lets in-flight
handlers finish (up to ``shutdown_grace_s``; anything unfinished is redelivered because it was
never acked) and closes every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opentelemetry.sdk.trace import TracerProvider

from infra.auth import check_secret
from infra.broker import K1Broker, build_broker
from infra.docstore import DocStore, MongoDocStore
from infra.health import HealthServer
from infra.logging import configure_logging
from infra.objectstore import ObjectStore, build_object_store
from infra.publishing import BrokerPublisher
from infra.settings import Settings, get_settings
from infra.tracing import configure_tracing, mongo_listener

log = logging.getLogger("k1.runtime")


@dataclass(frozen=True, slots=True)
class Infra:
    settings: Settings
    broker: K1Broker
    docs: DocStore
    objects: ObjectStore
    publisher: BrokerPublisher


Register = Callable[[Infra], Awaitable[Callable[[], Awaitable[None]] | None]]
"""Registers subscribers on ``infra.broker``; may return an async cleanup callable."""


def build_infra(
    settings: Settings, *, service: str, tracer_provider: TracerProvider | None = None
) -> Infra:
    """Every service's adapters, their database commands traced as spans of ``tracer_provider``
    (None: the global one). Refuses (RuntimeError) a missing JWT secret, or a weak one outside
    dev mode: it verifies tokens and keys the local object store's signed URLs."""
    check_secret(settings.jwt_secret.get_secret_value(), dev_mode=settings.dev_mode)
    broker = build_broker(settings, service=service, tracer_provider=tracer_provider)
    docs = MongoDocStore.from_url(
        settings.mongodb_url.get_secret_value(),
        settings.mongodb_database,
        event_listeners=[mongo_listener(tracer_provider)],
    )
    objects = build_object_store(settings, url_base=settings.public_url.rstrip("/") + "/objects")
    return Infra(settings, broker, docs, objects, BrokerPublisher(broker))


async def serve_worker(
    service: str,
    register: Register,
    *,
    settings: Settings | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    settings = settings or get_settings()
    infra = build_infra(settings, service=service)
    await infra.docs.ensure_indexes()
    await infra.objects.ensure_ready()
    cleanup = await register(infra)
    consuming = asyncio.Event()

    async def consumers() -> None:
        if not consuming.is_set():
            raise ConnectionError("consumers not attached yet")

    health = HealthServer(
        checks={**readiness_checks(infra), "consumers": consumers},
        host=settings.health_host,
        port=settings.health_port,
        metrics_token=settings.metrics_token.get_secret_value(),
    )
    await health.start()
    await infra.broker.start()  # declares the queues and attaches every consumer
    consuming.set()
    log.info("%s ready", service)
    stop = stop or _stop_on_signals()
    try:
        await stop.wait()
    finally:
        log.info("%s stopping: finishing in-flight work", service)
        await infra.broker.stop()
        if cleanup is not None:
            await cleanup()
        await health.stop()
        await infra.objects.close()
        await infra.docs.close()


def readiness_checks(infra: Infra) -> dict:
    """Checks of the three dependencies every service needs (broker, MongoDB, object store)."""

    async def broker() -> None:
        if not await infra.broker.ping(timeout=2):
            raise ConnectionError("RabbitMQ unreachable")

    async def objects() -> None:
        await infra.objects.exists("health/probe")

    return {"rabbitmq": broker, "mongodb": infra.docs.ping, "objects": objects}


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def run_worker(service: str, register: Register) -> None:
    """Entry point of ``python -m services.<service>``."""
    settings = get_settings()
    configure_logging(service, fmt=settings.log_format, level=settings.log_level)
    configure_tracing(service, settings)
    try:
        check_secret(settings.jwt_secret.get_secret_value(), dev_mode=settings.dev_mode)
    except RuntimeError as exc:
        raise SystemExit(f"{service}: {exc}") from None
    asyncio.run(serve_worker(service, register, settings=settings))
