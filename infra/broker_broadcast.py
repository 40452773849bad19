"""Live fan-out consumers: every process sees every message of some routing keys, best effort.

For live views only (the gateway's progress feed, dashboards): the queue is exclusive and
auto-deleted, every message is acked, and a bad body or a failing handler is only logged —
there is no retry and no DLQ, since nothing durable depends on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage as MessageCtx

from contracts.base import Message
from infra.broker_consume import Handler, log_context, raw_body
from infra.broker_policy import error_text
from infra.broker_topology import BroadcastQueue, exchange

log = logging.getLogger("k1.broker")

BROADCAST_PREFETCH = 64
"""Unacked messages per live consumer: live views favour throughput over fairness."""


def subscribe_broadcast(
    registrar: RabbitBroker | RabbitRouter,
    queue: BroadcastQueue,
    *models: type[Message],
    prefetch: int = BROADCAST_PREFETCH,
) -> Callable[[Handler[Any]], Handler[Any]]:
    """Decorate ``async def handle(msg) -> None`` to see every message on ``queue``'s keys.

    Each body is validated as the one of ``models`` whose routing key it came with. Best
    effort: every message is acked; a body or handler failure is only logged.
    """
    by_key = {model.routing_key: model for model in models}

    def decorate(handler: Handler[Any]) -> Handler[Any]:
        async def on_message(message: MessageCtx) -> None:
            raw = message.raw_message
            ctx = log_context(queue.name, raw.message_id, None)
            try:
                model = by_key.get(raw.routing_key or "")
                if model is None:
                    raise LookupError(f"no model for routing key {raw.routing_key!r}")
                await handler(model.model_validate_json(bytes(raw.body)))
            except Exception as exc:  # a live view drops what it cannot show
                log.warning("broadcast message dropped: %s", error_text(exc), extra=ctx)
            await message.ack()

        on_message.__name__ = getattr(handler, "__name__", "handle")
        registrar.subscriber(
            queue,
            exchange(),
            channel=Channel(prefetch_count=prefetch),
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            no_reply=True,
            include_in_schema=False,
        )(on_message)
        return handler

    return decorate
