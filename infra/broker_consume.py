"""Typed consumers with the K1 at-least-once policy (manual acks, explicit dead-lettering).

A durable consumer (``subscribe``):

* acks only after the handler returned — its durable work is done;
* a body that fails its schema is poison: it goes to ``<queue>.dlq`` with the validation error
  in ``x-k1-error``, ``on_give_up`` is told, the original is acked — no retry, no loop;
* a handler that fails because a dependency is away (``infra.errors.is_outage``: MongoDB or
  the object store not answering) is retried in place, the message held, with backoff up to
  ``outage_patience_s``: an outage is not the message's fault and must not use up its
  deliveries (or fail its track) — only after that patience does it count as below;
* a handler exception waits ``retry_backoff_s * 2**(attempt-1)`` (capped) and returns the
  message with ``reject(requeue=True)`` — the return every RabbitMQ version counts toward the
  delivery limit (see ``infra.broker_policy``);
* on the ``DELIVERY_LIMIT``-th failed delivery (or a ``PermanentError``) it gives up itself:
  dead-letters with the reason, calls ``on_give_up`` once, acks.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiormq.abc
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitRouter
from faststream.rabbit.annotations import RabbitBroker as BrokerCtx
from faststream.rabbit.annotations import RabbitMessage as MessageCtx
from faststream.rabbit.message import RabbitMessage
from opentelemetry import trace
from pydantic import ValidationError

from contracts.base import Message
from contracts.topology import DELIVERY_LIMIT, ERROR_HEADER, Subscription
from infra.broker_policy import backoff_s, delivery_attempt, error_text, should_give_up, truncate
from infra.broker_topology import dead_letter_exchange, exchange, queue_for
from infra.errors import is_outage
from infra.metrics import (
    MESSAGE_HANDLING_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_FAILED,
    OUTAGE_RETRIES,
)

log = logging.getLogger("k1.broker")
OUTAGE_BASE_S = 0.5
OUTAGE_MAX_WAIT_S = 5.0
"""In-place retries during an outage wait 0.5, 1, 2, 4, 5, 5, … s."""

M = TypeVar("M", bound=Message)
Handler = Callable[[M], Awaitable[None]]
GiveUp = Callable[[Any, str], Awaitable[None] | None]
"""``on_give_up(msg_or_raw_body, error)``: the typed message, or the raw bytes for poison."""

_DROPPED_HEADERS = ("x-delivery-count", "x-acquired-count")
QUEUE_SPAN_ATTRIBUTE = "messaging.destination.subscription.name"
"""The consume span names the queue, so a trace shows which service handled the message."""


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help: the message is given up at once."""


@dataclass(eq=False)
class ConsumerChannel(Channel):
    """A consumer's own channel; ``prefetch_count=None`` means the broker's settings decide."""


async def raw_body(msg: Any) -> bytes:
    """Decoder that leaves the body alone: the consumer validates it itself."""
    return bytes(msg.body)


def subscribe(
    registrar: RabbitBroker | RabbitRouter,
    sub: Subscription,
    model: type[M],
    *,
    on_give_up: GiveUp | None = None,
    prefetch: int | None = None,
    quiet: bool = False,
) -> Callable[[Handler[M]], Handler[M]]:
    """Decorate ``async def handle(msg: model) -> None`` to consume ``sub``'s durable queue.

    ``prefetch`` is this consumer's QoS (default: ``settings.broker_prefetch`` of the broker);
    ``quiet`` logs successes at DEBUG (for high-rate queues such as telemetry).
    """

    def decorate(handler: Handler[M]) -> Handler[M]:
        consumer = _Consumer(sub.queue, model, handler, on_give_up, quiet)
        consumer.dead_letter_key = sub.dead_letter_source

        async def on_message(message: MessageCtx, broker: BrokerCtx) -> None:
            await consumer.consume(message, broker)

        on_message.__name__ = getattr(handler, "__name__", "handle")
        on_message.__doc__ = handler.__doc__
        registrar.subscriber(
            queue_for(sub),
            exchange(),
            channel=ConsumerChannel(prefetch_count=prefetch, publisher_confirms=True),
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            no_reply=True,
            title=f"{sub.queue}:{on_message.__name__}",
        )(on_message)
        return handler

    return decorate


class _Consumer(Generic[M]):
    def __init__(
        self,
        queue: str,
        model: type[M],
        handler: Handler[M],
        on_give_up: GiveUp | None,
        quiet: bool,
    ) -> None:
        self.queue = queue
        self.model = model
        self.handler = handler
        self.on_give_up = on_give_up
        self.success_level = logging.DEBUG if quiet else logging.INFO
        self.dead_letter_key = queue

    async def consume(self, message: RabbitMessage, broker: RabbitBroker) -> None:
        started = time.perf_counter()
        MESSAGES_CONSUMED.labels(self.queue).inc()
        trace.get_current_span().set_attribute(QUEUE_SPAN_ATTRIBUTE, self.queue)
        try:
            await self._consume(message, broker)
        finally:
            MESSAGE_HANDLING_SECONDS.labels(self.queue).observe(time.perf_counter() - started)

    async def _consume(self, message: RabbitMessage, broker: RabbitBroker) -> None:
        raw = message.raw_message
        body = bytes(raw.body)
        attempt = delivery_attempt(raw.headers)
        try:
            msg = self.model.model_validate_json(body)
        except ValidationError as exc:
            await self._poison(message, broker, body, exc)
            return
        ctx = log_context(self.queue, msg.event_id, getattr(msg, "track_id", None))
        ctx["attempt"] = attempt
        patience_s = _settings_of(broker).outage_patience_s
        held_since, waits = time.monotonic(), 0
        while True:
            try:
                await self.handler(msg)
                break
            except Exception as exc:
                waits += 1
                delay = backoff_s(waits, base_s=OUTAGE_BASE_S, cap_s=OUTAGE_MAX_WAIT_S)
                if is_outage(exc) and time.monotonic() - held_since + delay <= patience_s:
                    OUTAGE_RETRIES.labels(self.queue).inc()
                    log.warning(
                        "dependency unavailable, retrying in place in %.1fs "
                        "(delivery not counted): %s",
                        delay,
                        error_text(exc),
                        extra=ctx,
                    )
                    await asyncio.sleep(delay)
                    continue
                await self._failed(message, broker, msg, exc, attempt, ctx)
                return
        await message.ack()
        log.log(self.success_level, "handled", extra=ctx)

    async def _poison(
        self, message: RabbitMessage, broker: RabbitBroker, body: bytes, exc: ValidationError
    ) -> None:
        error = truncate(f"schema: {exc}")
        ctx = log_context(self.queue, message.raw_message.message_id, _track_id_of(body))
        log.error("poison message dead-lettered: %s", error.splitlines()[0], extra=ctx)
        await self._give_up(message, broker, body, error, ctx, attempt=1, reason="poison")

    async def _failed(
        self,
        message: RabbitMessage,
        broker: RabbitBroker,
        msg: M,
        exc: Exception,
        attempt: int,
        ctx: dict[str, Any],
    ) -> None:
        error = error_text(exc)
        MESSAGES_FAILED.labels(self.queue).inc()
        trace.get_current_span().set_status(trace.StatusCode.ERROR, error[:200])
        if isinstance(exc, PermanentError) or should_give_up(attempt, limit=DELIVERY_LIMIT):
            log.error("giving up after %d deliveries: %s", attempt, error, extra=ctx, exc_info=exc)
            await self._give_up(message, broker, msg, error, ctx, attempt=attempt, reason="gave_up")
            return
        delay = backoff_s(attempt, base_s=_settings_of(broker).retry_backoff_s)
        log.warning("handler failed, retry in %.2fs: %s", delay, error, extra=ctx)
        await asyncio.sleep(delay)
        await message.reject(requeue=True)

    async def _give_up(
        self,
        message: RabbitMessage,
        broker: RabbitBroker,
        subject: Any,
        error: str,
        ctx: dict[str, Any],
        *,
        attempt: int,
        reason: str,
    ) -> None:
        try:
            await dead_letter(
                broker, message, self.queue, error, attempt=attempt, key=self.dead_letter_key
            )
            MESSAGES_DEAD_LETTERED.labels(self.queue, reason).inc()
        except Exception:
            # The DLQ did not take it: return it and let the next delivery (or the queue's
            # own delivery limit) dead-letter it.
            log.exception("dead-lettering failed; message returned", extra=ctx)
            await message.reject(requeue=True)
            return
        if self.on_give_up is not None:
            try:
                result = self.on_give_up(subject, error)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("on_give_up failed; the message is in the DLQ", extra=ctx)
        await message.ack()


async def dead_letter(
    broker: RabbitBroker,
    message: RabbitMessage,
    queue: str,
    error: str,
    *,
    attempt: int,
    key: str | None = None,
) -> None:
    """Publish ``message`` unchanged to ``<key or queue>.dlq`` with the reason; raise unless
    confirmed and routed."""
    raw = message.raw_message
    headers = {k: v for k, v in (raw.headers or {}).items() if k not in _DROPPED_HEADERS}
    headers.update({ERROR_HEADER: error, "x-k1-attempts": attempt, "x-k1-queue": queue})
    result = await broker.publish(
        bytes(raw.body),
        exchange=dead_letter_exchange(),
        routing_key=key or queue,
        persist=True,
        mandatory=True,
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        content_type=raw.content_type,
        message_type=raw.type,
        headers=headers,
        timeout=10.0,
    )
    if isinstance(result, aiormq.abc.DeliveredMessage):  # returned: no DLQ bound
        raise RuntimeError(f"dead letter of {queue} was not routed to its DLQ")


def _settings_of(broker: RabbitBroker) -> Any:
    settings = getattr(broker, "settings", None)
    if settings is None:
        from infra.settings import get_settings

        settings = get_settings()
    return settings


def log_context(queue: str, event_id: str | None, track_id: str | None) -> dict[str, Any]:
    return {"queue": queue, "event_id": event_id, "track_id": track_id}


def _track_id_of(body: bytes) -> str | None:
    """Best-effort track id of an invalid body, for the log line only."""
    try:
        value = json.loads(body).get("track_id")
    except Exception:
        return None
    return value[:64] if isinstance(value, str) else None
