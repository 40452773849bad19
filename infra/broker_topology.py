"""RabbitMQ objects built from ``contracts.topology``: exchanges, durable queues and their DLQs.

Every durable consumer queue is a quorum queue whose dead letters go to ``k1.dead`` with the
queue's own name as routing key, so each one lands in exactly its ``<queue>.dlq``. The same
objects are used to declare and to consume: FastStream's declarer caches by equality, and
RabbitMQ refuses a re-declaration with different arguments (PRECONDITION_FAILED), so they must
never be spelled twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import QuorumQueueArgs

from contracts.topology import DEAD_LETTER_EXCHANGE, DELIVERY_LIMIT, EVENTS_EXCHANGE, Subscription

DLQ_SUFFIX = ".dlq"


def exchange() -> RabbitExchange:
    """The durable topic exchange every event and command is published to."""
    return RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


def dead_letter_exchange() -> RabbitExchange:
    """The durable direct exchange that routes a dead letter by its source queue's name."""
    return RabbitExchange(DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)


def queue_arguments(
    queue_name: str, *, single_active: bool = False, dead_letter_key: str | None = None
) -> QuorumQueueArgs:
    """Declaration arguments of the durable quorum queue ``queue_name``; its dead letters are
    routed by ``dead_letter_key`` (by default its own name).

    ``x-queue-type`` is not among them: FastStream puts it first from ``queue_type``.
    """
    args: QuorumQueueArgs = {
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": dead_letter_key or queue_name,
    }
    if single_active:
        args["x-single-active-consumer"] = True
    return args


def queue_for(sub: Subscription) -> RabbitQueue:
    """The durable quorum queue of ``sub``, bound to ``k1.events`` with its routing key."""
    return RabbitQueue(
        sub.queue,
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments=queue_arguments(
            sub.queue, single_active=sub.single_active, dead_letter_key=sub.dead_letter_key
        ),
        routing_key=sub.routing_key,
    )


def dead_letter_queue(queue_name: str) -> RabbitQueue:
    """The durable quorum DLQ of ``queue_name``, bound to ``k1.dead`` with that name."""
    return RabbitQueue(
        queue_name + DLQ_SUFFIX,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=queue_name,
    )


def dead_letter_queue_for(sub: Subscription) -> RabbitQueue:
    return dead_letter_queue(sub.dead_letter_source)


def dead_letter_source(queue: RabbitQueue) -> str | None:
    """Name a dead letter from ``queue`` is routed by, or None if it is not dead-lettered to us."""
    args = queue.arguments or {}
    if args.get("x-dead-letter-exchange") != DEAD_LETTER_EXCHANGE:
        return None
    return str(args.get("x-dead-letter-routing-key") or queue.name)


class BroadcastQueue(RabbitQueue):
    """A transient per-process queue that sees every message of some routing keys (fan-out).

    FastStream binds a queue with one routing key; ``K1Broker`` binds the other keys after its
    subscribers start.
    """

    __slots__ = ("extra_routing_keys",)

    def __init__(self, name: str, routing_keys: Sequence[str]) -> None:
        if not routing_keys:
            raise ValueError("a broadcast queue needs at least one routing key")
        super().__init__(
            name,
            queue_type=QueueType.CLASSIC,
            durable=False,
            exclusive=True,
            auto_delete=True,
            routing_key=routing_keys[0],
        )
        self.extra_routing_keys: tuple[str, ...] = tuple(routing_keys[1:])


def broadcast_queue(service: str, routing_keys: Sequence[str]) -> BroadcastQueue:
    """A fresh exclusive, auto-delete classic queue ``<service>.live.<random>`` for fan-out.

    Each process gets its own copy of every matching message; nothing survives the process,
    so use it only for live views (progress feeds, dashboards), never for durable work.
    """
    return BroadcastQueue(f"{service}.live.{uuid.uuid4().hex[:12]}", routing_keys)
