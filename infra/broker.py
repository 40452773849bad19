"""The at-least-once messaging layer every service uses (FastStream ``RabbitBroker``).

FastStream's defaults are transient messages, classic queues and a failing handler's message
rejected without requeue; here every piece is set explicitly:

* publishing: persistent JSON, ``message_id`` = event id, mandatory, trace headers, awaited
  with publisher confirms (after ``publish`` returns the broker has the message);
* topology: durable topic exchange ``k1.events``, durable quorum queues with a delivery limit
  that dead-letter into ``k1.dead`` → ``<queue>.dlq`` — declared at start, before consuming,
  so a message published before its consumer first ran is kept, not dropped as unroutable;
* consuming: manual acks, see ``infra.broker_consume``.

Nothing connects at import time: ``build_broker`` only builds; ``await broker.start()`` (or the
FastStream app / Litestar lifespan) connects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import aiormq.abc
from faststream.rabbit import Channel, RabbitBroker
from opentelemetry.sdk.trace import TracerProvider

from contracts.base import Message
from contracts.topology import SUBSCRIPTIONS, Subscription
from infra.broker_broadcast import subscribe_broadcast
from infra.broker_consume import ConsumerChannel, PermanentError, subscribe
from infra.broker_topology import (
    BroadcastQueue,
    broadcast_queue,
    dead_letter_exchange,
    dead_letter_queue,
    dead_letter_source,
    exchange,
    queue_for,
)
from infra.settings import Settings
from infra.tracing import broker_middleware, continued

__all__ = [
    "K1Broker",
    "PermanentError",
    "broadcast_queue",
    "build_broker",
    "declare_topology",
    "exchange",
    "publish",
    "queue_for",
    "subscribe",
    "subscribe_broadcast",
]

log = logging.getLogger("k1.broker")

PUBLISH_TIMEOUT_S = 10.0
"""Longest wait for the broker's publisher confirm."""


class K1Broker(RabbitBroker):
    """A ``RabbitBroker`` that declares the K1 topology and applies consumer QoS on start."""

    def __init__(
        self,
        *args: Any,
        settings: Settings,
        service: str,
        declare: Iterable[Subscription] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.service = service
        self.declared_subscriptions = tuple(declare)

    async def start(self) -> None:
        await self.connect()
        for sub in self.subscribers:
            channel = getattr(sub, "channel", None)
            if isinstance(channel, ConsumerChannel) and channel.prefetch_count is None:
                channel.prefetch_count = self.settings.broker_prefetch
        await declare_topology(self, self.declared_subscriptions)
        await super().start()
        await _bind_broadcast_keys(self)


def build_broker(
    settings: Settings,
    *,
    service: str,
    declare: Iterable[Subscription] = SUBSCRIPTIONS,
    fail_fast: bool = False,
    reconnect_interval_s: float = 2.0,
    tracer_provider: TracerProvider | None = None,
) -> K1Broker:
    """A broker for ``service``; connects only when started.

    ``declare`` lists the durable subscriptions whose queues (and DLQs) are declared at start
    besides the ones this broker consumes — by default all of them, so events published before
    their consumer ever ran are kept. ``fail_fast=False`` waits for RabbitMQ at start instead of
    failing; once connected, the robust connection reconnects and restores channels, queues,
    bindings and consumers by itself. Publishing and consuming are traced (FastStream's
    OpenTelemetry middleware; ``tracer_provider`` None = the process's global one).
    """
    return K1Broker(
        settings.amqp_url.get_secret_value(),
        settings=settings,
        service=service,
        declare=declare,
        fail_fast=fail_fast,
        reconnect_interval=reconnect_interval_s,
        default_channel=Channel(publisher_confirms=True, on_return_raises=False),
        app_id=service,
        log_level=logging.DEBUG,
        graceful_timeout=settings.shutdown_grace_s,
        middlewares=[broker_middleware(tracer_provider)],
    )


async def declare_topology(broker: RabbitBroker, subs: Iterable[Subscription] = ()) -> None:
    """Declare the exchanges, the queues of ``subs`` with their bindings, and a DLQ for every
    dead-lettering queue among ``subs`` and the broker's own subscribers (idempotent)."""
    events = await broker.declare_exchange(exchange())
    dead = await broker.declare_exchange(dead_letter_exchange())
    sources: dict[str, None] = {}
    for sub in subs:
        queue = await broker.declare_queue(queue_for(sub))
        await queue.bind(events, routing_key=sub.routing_key)
        sources[sub.dead_letter_source] = None
    for subscriber in broker.subscribers:
        queue_obj = getattr(subscriber, "queue", None)
        if queue_obj is not None and (source := dead_letter_source(queue_obj)) is not None:
            sources[source] = None
    for source in sources:
        dlq = await broker.declare_queue(dead_letter_queue(source))
        await dlq.bind(dead, routing_key=source)


async def _bind_broadcast_keys(broker: RabbitBroker) -> None:
    events = await broker.declare_exchange(exchange())
    for subscriber in broker.subscribers:
        queue = getattr(subscriber, "queue", None)
        if isinstance(queue, BroadcastQueue) and queue.extra_routing_keys:
            declared = await broker.declare_queue(queue)
            for key in queue.extra_routing_keys:
                await declared.bind(events, routing_key=key)


def trace_headers(message: Message) -> aiormq.abc.FieldTable:
    headers: aiormq.abc.FieldTable = {"x-k1-schema-version": str(message.schema_version)}
    if message.trace.traceparent:
        headers["traceparent"] = message.trace.traceparent
    if message.trace.tracestate:
        headers["tracestate"] = message.trace.tracestate
    return headers


async def publish(
    broker: RabbitBroker, message: Message, *, timeout_s: float = PUBLISH_TIMEOUT_S
) -> bool:
    """Publish ``message`` persistently under its routing key and wait for the broker's confirm.

    Returns False (and logs a warning) if no queue is bound for its routing key — the broker
    confirmed but dropped it, which is expected only for events nobody consumes durably.
    Raises if the broker refuses it or does not confirm within ``timeout_s``. The body's
    ``trace`` is the publishing span's (the telemetry middleware's ``traceparent`` header is a
    child of it, so both name the same trace).
    """
    routing_key = message.route()
    if not routing_key:
        raise ValueError(f"{type(message).__name__} has no routing key")
    with continued(message.trace) as trace_ctx:
        if trace_ctx is not message.trace:
            message = message.model_copy(update={"trace": trace_ctx})
        result = await broker.publish(
            message.model_dump_json().encode(),
            exchange=exchange(),
            routing_key=routing_key,
            persist=True,
            mandatory=True,
            message_id=message.event_id,
            content_type="application/json",
            message_type=routing_key,
            headers=trace_headers(message),
            timeout=timeout_s,
        )
    routed = not isinstance(result, aiormq.abc.DeliveredMessage)
    if not routed:
        # Durable subscriptions are declared at start, so losing one of theirs is a fault;
        # other events (progress, alerts) just had no live listener.
        durable = any(sub.routing_key == routing_key for sub in SUBSCRIPTIONS)
        log.log(
            logging.WARNING if durable else logging.DEBUG,
            "published %s but no queue is bound for it",
            routing_key,
            extra={"event_id": message.event_id, "track_id": getattr(message, "track_id", None)},
        )
    return routed
