"""The messaging layer against the real RabbitMQ: one fresh vhost per test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import aio_pika
import pytest
from faststream.rabbit import RabbitRouter

from contracts.base import Message, TraceContext
from contracts.topology import DEAD_LETTER_EXCHANGE, DELIVERY_LIMIT, ERROR_HEADER, Subscription
from infra.broker import (
    K1Broker,
    broadcast_queue,
    build_broker,
    publish,
    subscribe,
    subscribe_broadcast,
)
from infra.settings import Settings

pytestmark = pytest.mark.integration

SUB = Subscription("svc", "test.ping")
WAIT_S = 10.0


class Ping(Message):
    routing_key = "test.ping"

    track_id: str
    n: int = 0


class Pong(Message):
    routing_key = "test.pong"

    n: int = 0


def make_broker(url: str, *, declare: tuple[Subscription, ...] = (SUB,), **extra) -> K1Broker:
    settings = Settings(amqp_url=url, retry_backoff_s=0.01, broker_prefetch=1, **extra)
    return build_broker(settings, service="svc", declare=declare, fail_fast=True)


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def raw(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain aio-pika channel on the test's vhost, to look at queues from outside."""
    connection = await aio_pika.connect(amqp_url)
    yield await connection.channel()
    await connection.close()


async def drain(channel: aio_pika.abc.AbstractChannel, queue: str) -> list:
    q = await channel.get_queue(queue)
    messages = []
    while (m := await q.get(no_ack=True, fail=False)) is not None:
        messages.append(m)
    return messages


async def get_one(channel: aio_pika.abc.AbstractChannel, queue: str, timeout: float = WAIT_S):
    q = await channel.get_queue(queue)
    deadline = time.monotonic() + timeout
    while (m := await q.get(no_ack=True, fail=False)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing arrived in {queue}")
        await asyncio.sleep(0.02)
    return m


async def test_publish_is_persistent_confirmed_and_typed(amqp_url, raw) -> None:
    publisher = make_broker(amqp_url)
    await publisher.start()
    traceparent = f"00-{'a' * 32}-{'b' * 16}-01"
    sent = Ping(track_id="t1", n=7, trace=TraceContext(traceparent=traceparent))
    assert await publish(publisher, sent) is True
    assert await publish(publisher, Pong()) is False  # nobody bound: confirmed, reported

    stored = await get_one(raw, SUB.queue)
    assert stored.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert stored.message_id == sent.event_id
    assert stored.content_type == "application/json"
    assert stored.headers["traceparent"] == traceparent
    assert Ping.model_validate_json(stored.body) == sent

    received: asyncio.Queue[Ping] = asyncio.Queue()
    consumer = make_broker(amqp_url)

    @subscribe(consumer, SUB, Ping)
    async def handle(msg: Ping) -> None:
        await received.put(msg)

    await consumer.start()
    second = Ping(track_id="t1", n=8)
    await publish(publisher, second)
    assert await asyncio.wait_for(received.get(), WAIT_S) == second
    await consumer.stop()
    await publisher.stop()


async def test_failing_handler_retried_then_dead_lettered_once(amqp_url, raw) -> None:
    broker = make_broker(amqp_url)
    router = RabbitRouter()
    attempts: list[int] = []
    given_up: list[tuple[object, str]] = []

    async def mark_failed(msg: object, error: str) -> None:
        given_up.append((msg, error))

    @subscribe(router, SUB, Ping, on_give_up=mark_failed)
    async def handle(msg: Ping) -> None:
        attempts.append(msg.n)
        raise RuntimeError("analysis exploded at amqp://user:hunter2@db/")

    broker.include_router(router)
    await broker.start()
    sent = Ping(track_id="t-fail", n=1)
    await publish(broker, sent)

    dead = await get_one(raw, SUB.dead_letter_queue)
    await asyncio.sleep(0.2)  # no further delivery may follow the give-up
    await broker.stop()
    assert len(attempts) == DELIVERY_LIMIT
    assert Ping.model_validate_json(dead.body) == sent
    assert dead.message_id == sent.event_id
    assert dead.headers[ERROR_HEADER].startswith("RuntimeError: analysis exploded")
    assert "hunter2" not in dead.headers[ERROR_HEADER]
    assert dead.headers["x-k1-attempts"] == DELIVERY_LIMIT
    assert given_up == [(sent, dead.headers[ERROR_HEADER])]
    assert await drain(raw, SUB.queue) == []


async def test_handler_that_recovers_is_acked_and_nothing_dead_lettered(amqp_url, raw) -> None:
    broker = make_broker(amqp_url)
    attempts: list[str] = []
    given_up: list[object] = []

    @subscribe(broker, SUB, Ping, on_give_up=lambda msg, err: given_up.append(msg))
    async def handle(msg: Ping) -> None:
        attempts.append(msg.event_id)
        if len(attempts) == 1:
            raise RuntimeError("a bug that a redelivery does not hit")

    await broker.start()
    sent = Ping(track_id="t-ok")
    await publish(broker, sent)
    await wait_until(lambda: len(attempts) == 2)
    await asyncio.sleep(0.1)
    await broker.stop()
    assert attempts == [sent.event_id, sent.event_id]
    assert given_up == []
    assert await drain(raw, SUB.queue) == []
    assert await drain(raw, SUB.dead_letter_queue) == []


async def test_an_outage_longer_than_the_delivery_budget_is_held_not_counted(
    amqp_url, raw, monkeypatch
) -> None:
    """MongoDB or the object store away for more failures than the queue allows deliveries:
    the message is held and retried in place, its delivery count untouched, then handled."""
    from infra import broker_consume
    from infra.errors import StoreUnavailable

    monkeypatch.setattr(broker_consume, "OUTAGE_BASE_S", 0.01)
    monkeypatch.setattr(broker_consume, "OUTAGE_MAX_WAIT_S", 0.05)
    broker = make_broker(amqp_url)
    calls: list[int] = []
    given_up: list[object] = []

    @subscribe(broker, SUB, Ping, on_give_up=lambda msg, err: given_up.append(msg))
    async def handle(msg: Ping) -> None:
        calls.append(msg.n)
        if len(calls) <= 2 * DELIVERY_LIMIT:
            raise StoreUnavailable("S3 endpoint did not answer: ProtocolError")

    await broker.start()
    await publish(broker, Ping(track_id="t-outage"))
    await wait_until(lambda: len(calls) == 2 * DELIVERY_LIMIT + 1)
    await asyncio.sleep(0.2)
    await broker.stop()
    # 11 calls of one message: had each failure been a counted delivery, the 5th would have
    # dead-lettered it
    assert given_up == []
    assert await drain(raw, SUB.queue) == [] and await drain(raw, SUB.dead_letter_queue) == []


async def test_an_outage_beyond_the_patience_counts_as_failed_deliveries(amqp_url, raw) -> None:
    from infra.errors import StoreUnavailable

    broker = make_broker(amqp_url, outage_patience_s=0)
    calls: list[str] = []

    @subscribe(broker, SUB, Ping)
    async def handle(msg: Ping) -> None:
        calls.append(msg.event_id)
        raise StoreUnavailable("MongoDB did not answer: ServerSelectionTimeoutError")

    await broker.start()
    await publish(broker, Ping(track_id="t-long-outage"))
    dead = await get_one(raw, SUB.dead_letter_queue)
    await broker.stop()
    assert len(calls) == DELIVERY_LIMIT
    assert dead.headers[ERROR_HEADER].startswith("StoreUnavailable")


async def test_schema_invalid_bodies_dead_lettered_and_consumer_goes_on(amqp_url, raw) -> None:
    broker = make_broker(amqp_url)
    handled: list[Ping] = []
    given_up: list[tuple[object, str]] = []

    @subscribe(broker, SUB, Ping, on_give_up=lambda msg, err: given_up.append((msg, err)))
    async def handle(msg: Ping) -> None:
        handled.append(msg)

    await broker.start()
    events = await raw.get_exchange("k1.events")
    for i, body in enumerate((b"{not json", b'{"n": "seven"}'), start=1):
        await events.publish(aio_pika.Message(body, delivery_mode=2), routing_key=SUB.routing_key)
        # one at a time: the consumer may handle deliveries concurrently, and this test
        # checks each poison body's own header, so it fixes the order they arrive in
        await wait_until(lambda i=i: len(given_up) == i)
    good = Ping(track_id="t-good")
    await publish(broker, good)
    await wait_until(lambda: len(handled) == 1)
    await broker.stop()

    assert handled == [good]
    dead = await drain(raw, SUB.dead_letter_queue)
    assert [m.body for m in dead] == [b"{not json", b'{"n": "seven"}']
    assert "json" in dead[0].headers[ERROR_HEADER].lower()
    assert "track_id" in dead[1].headers[ERROR_HEADER] and "n\n" in dead[1].headers[ERROR_HEADER]
    assert [msg for msg, _ in given_up] == [b"{not json", b'{"n": "seven"}']


async def test_competing_consumers_with_prefetch_one_share_a_batch(amqp_url) -> None:
    seen: dict[str, list[int]] = {"a": [], "b": []}
    brokers = []
    for name in seen:
        broker = make_broker(amqp_url)

        @subscribe(broker, SUB, Ping, quiet=True)
        async def handle(msg: Ping, _name: str = name) -> None:
            seen[_name].append(msg.n)
            await asyncio.sleep(0.03)

        await broker.start()
        brokers.append(broker)
    for n in range(12):
        await publish(brokers[0], Ping(track_id="batch", n=n))
    await wait_until(lambda: len(seen["a"]) + len(seen["b"]) == 12)
    for broker in brokers:
        await broker.stop()
    assert sorted(seen["a"] + seen["b"]) == list(range(12))
    assert len(seen["a"]) >= 3 and len(seen["b"]) >= 3


async def test_a_single_active_consumer_queue_feeds_one_replica_until_it_goes(amqp_url) -> None:
    """Two replicas of a stateful service: one gets every message, the other takes over
    when the first stops — nothing lost, nothing split between them."""
    sac = Subscription("svc", "test.ping", single_active=True)
    seen: dict[str, list[int]] = {"a": [], "b": []}
    brokers = []
    for name in seen:
        broker = make_broker(amqp_url, declare=(sac,))

        @subscribe(broker, sac, Ping, quiet=True)
        async def handle(msg: Ping, _name: str = name) -> None:
            seen[_name].append(msg.n)

        await broker.start()
        brokers.append(broker)
    for n in range(10):
        await publish(brokers[0], Ping(track_id="stats", n=n))
    await wait_until(lambda: len(seen["a"]) + len(seen["b"]) == 10)
    active = "a" if seen["a"] else "b"
    standby = "b" if active == "a" else "a"
    # all ten to one replica (prefetched messages may finish out of order under load)
    assert sorted(seen[active]) == list(range(10)) and seen[standby] == []
    await brokers["ab".index(active)].stop()
    for n in range(10, 15):
        await publish(brokers["ab".index(standby)], Ping(track_id="stats", n=n))
    await wait_until(lambda: len(seen[standby]) == 5)
    await brokers["ab".index(standby)].stop()
    assert sorted(seen[standby]) == list(range(10, 15))


async def test_queues_are_durable_quorum_with_delivery_limit_and_dlq(rabbit_vhost) -> None:
    broker = make_broker(rabbit_vhost.url)
    await broker.start()
    await broker.stop()
    queues = rabbit_vhost.queues()
    main, dlq = queues[SUB.queue], queues[SUB.dead_letter_queue]
    assert (main["type"], main["durable"]) == ("quorum", True)
    assert main["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": SUB.queue,
    }
    assert (dlq["type"], dlq["durable"]) == ("quorum", True)


async def test_broadcast_queues_each_see_every_key(amqp_url) -> None:
    """Two processes' live feeds (one broker each) both get every Ping and Pong."""
    seen: dict[str, list[Message]] = {"one": [], "two": []}
    brokers = []
    for name in seen:
        broker = make_broker(amqp_url, declare=())

        @subscribe_broadcast(
            broker, broadcast_queue("gateway", ["test.ping", "test.pong"]), Ping, Pong
        )
        async def on_event(msg: Message, _name: str = name) -> None:
            seen[_name].append(msg)

        await broker.start()
        brokers.append(broker)
    sent = [Ping(track_id="live"), Pong(n=3)]
    for msg in sent:
        assert await publish(brokers[0], msg) is True
    await wait_until(lambda: len(seen["one"]) == 2 and len(seen["two"]) == 2)
    for broker in brokers:
        await broker.stop()

    # each feed gets both; two routing keys carry no order between them
    def by_id(msgs: list[Message]) -> list[Message]:
        return sorted(msgs, key=lambda m: m.event_id)

    assert by_id(seen["one"]) == by_id(sent) and by_id(seen["two"]) == by_id(sent)


async def _returns_until_dead_lettered(channel, name: str, how: str) -> list[int]:
    """x-delivery-count seen on each delivery of one message returned with ``how``."""
    dead = await channel.declare_exchange("probe.dead", "direct", durable=True)
    dlq = await channel.declare_queue(f"{name}.dlq", durable=True)
    await dlq.bind(dead, routing_key=name)
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": 2,
            "x-dead-letter-exchange": "probe.dead",
            "x-dead-letter-routing-key": name,
        },
    )
    await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=name)
    counts: list[int] = []
    for _ in range(6):
        message = await queue.get(no_ack=False, fail=False, timeout=2)
        if message is None:
            break
        counts.append(int(message.headers.get("x-delivery-count", 0)))
        await (message.nack(requeue=True) if how == "nack" else message.reject(requeue=True))
        await asyncio.sleep(0.05)
    await get_one(channel, f"{name}.dlq")
    return counts


async def test_this_rabbitmq_counts_requeues_as_the_policy_assumes(amqp_url, raw) -> None:
    """3.x counts nack and reject alike (limit + 1 deliveries); 4.3+ counts only reject."""
    version = raw.channel.connection.server_properties["version"]
    rejected = await _returns_until_dead_lettered(raw, "probe.reject", "reject")
    assert rejected == [0, 1, 2]  # the consumer must use reject: counted on every version
    if tuple(int(p) for p in str(version).split(".")[:2]) < (4, 3):
        assert await _returns_until_dead_lettered(raw, "probe.nack", "nack") == [0, 1, 2]
