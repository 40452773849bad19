"""Pure parts of the messaging layer: retry timing, give-up decision, error text, topology."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from contracts.base import Message
from contracts.topology import (
    DEAD_LETTER_EXCHANGE,
    DELIVERY_LIMIT,
    ERROR_HEADER,
    SUBSCRIPTIONS,
    TELEMETRY_PARTITIONS,
    Subscription,
)
from infra.broker_consume import PermanentError, _Consumer
from infra.broker_policy import (
    MAX_BACKOFF_S,
    MAX_ERROR_CHARS,
    backoff_s,
    delivery_attempt,
    error_text,
    should_give_up,
)
from infra.broker_topology import broadcast_queue, dead_letter_queue_for, exchange, queue_for
from infra.settings import Settings


@pytest.mark.parametrize(("attempt", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)])
def test_backoff_doubles_per_failed_attempt(attempt: int, expected: float) -> None:
    assert backoff_s(attempt, base_s=0.5) == expected


def test_backoff_is_capped_and_zero_when_disabled() -> None:
    assert backoff_s(40, base_s=0.5) == MAX_BACKOFF_S
    assert backoff_s(10_000, base_s=1.0, cap_s=3.0) == 3.0
    assert backoff_s(3, base_s=0.0) == 0.0


@pytest.mark.parametrize(
    ("headers", "attempt"),
    [
        (None, 1),
        ({}, 1),
        ({"x-delivery-count": 0}, 1),
        ({"x-delivery-count": 3}, 4),
        # RabbitMQ >= 4.3 counts nacks only in x-acquired-count: take the larger
        ({"x-delivery-count": 1, "x-acquired-count": 4}, 5),
        ({"x-delivery-count": "2"}, 3),
        ({"x-delivery-count": -7}, 1),
        ({"x-delivery-count": "junk"}, 1),
    ],
)
def test_delivery_attempt_from_broker_headers(headers, attempt: int) -> None:
    assert delivery_attempt(headers) == attempt


def test_gives_up_on_the_last_allowed_delivery_only() -> None:
    decisions = [should_give_up(n) for n in range(1, DELIVERY_LIMIT + 2)]
    assert decisions == [False] * (DELIVERY_LIMIT - 1) + [True, True]
    assert should_give_up(1, limit=1)


def test_error_text_names_the_error_and_hides_credentials() -> None:
    text = error_text(ConnectionError("cannot reach mongodb://k1:s3cret@db:27017/k1"))
    assert text == "ConnectionError: cannot reach mongodb://***@db:27017/k1"
    assert error_text(KeyError()) == "KeyError"


def test_error_text_is_truncated_for_a_header() -> None:
    text = error_text(ValueError("x" * 100_000))
    assert len(text) <= MAX_ERROR_CHARS and text.endswith("[truncated]")


def test_every_subscription_is_a_quorum_queue_dead_lettering_to_its_dlq() -> None:
    for sub in SUBSCRIPTIONS:
        queue, dlq = queue_for(sub), dead_letter_queue_for(sub)
        assert queue.name == f"{sub.service}.{sub.routing_key}" and queue.durable
        assert queue.routing() == sub.routing_key
        assert queue.arguments == {
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": sub.dead_letter_source,
            **({"x-single-active-consumer": True} if sub.single_active else {}),
        }
        assert dlq.name == sub.dead_letter_queue and dlq.routing() == sub.dead_letter_source
        assert dlq.arguments == {"x-queue-type": "quorum"} and dlq.durable
        assert queue_for(sub) == queue  # one spelling: the declarer caches by equality
    stateful = [sub.queue for sub in SUBSCRIPTIONS if sub.single_active]
    assert stateful == ["telemetry.device.telemetry"] + [
        f"telemetry.device.telemetry.p{p:02d}" for p in range(TELEMETRY_PARTITIONS)
    ]
    shared = {sub.dead_letter_queue for sub in SUBSCRIPTIONS if sub.service == "telemetry"}
    assert shared == {"telemetry.device.telemetry.dlq"}  # the partitions share one DLQ


def test_events_exchange_is_durable_topic() -> None:
    ex = exchange()
    assert (ex.name, ex.type.value, ex.durable) == ("k1.events", "topic", True)


def test_broadcast_queues_are_private_and_transient() -> None:
    a = broadcast_queue("gateway", ["analysis.progress", "bundle.deployed"])
    b = broadcast_queue("gateway", ["analysis.progress", "bundle.deployed"])
    assert a.name != b.name and a.name.startswith("gateway.live.")
    assert a.exclusive and a.auto_delete and not a.durable
    assert a.arguments == {"x-queue-type": "classic"}
    assert a.routing() == "analysis.progress" and a.extra_routing_keys == ("bundle.deployed",)
    with pytest.raises(ValueError):
        broadcast_queue("gateway", [])
    assert Subscription("x", "y").queue == "x.y"


# --- the consumer's decisions, over a fake message and broker (no RabbitMQ) ---


class Job(Message):
    routing_key = "test.job"
    track_id: str


class FakeMessage:
    def __init__(self, body: bytes, delivery_count: int = 0) -> None:
        self.raw_message = SimpleNamespace(
            body=body,
            headers={"x-delivery-count": delivery_count},
            message_id="m1",
            correlation_id=None,
            content_type="application/json",
            type="test.job",
        )
        self.settled: list[tuple[str, bool | None]] = []

    async def ack(self) -> None:
        self.settled.append(("ack", None))

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append(("reject", requeue))

    async def nack(self, requeue: bool = True) -> None:
        self.settled.append(("nack", requeue))


class FakeBroker:
    def __init__(self) -> None:
        self.settings = Settings(retry_backoff_s=0)
        self.published: list[dict] = []

    async def publish(self, body: bytes, **kwargs) -> None:
        self.published.append({"body": body, **kwargs})


def consumer(handler, given_up: list) -> _Consumer:
    return _Consumer("svc.test.job", Job, handler, lambda m, e: given_up.append((m, e)), False)


async def fails(msg: Job) -> None:
    raise RuntimeError("boom")


async def test_failure_before_the_limit_is_rejected_with_requeue_not_nacked() -> None:
    broker, given_up = FakeBroker(), []
    msg = FakeMessage(Job(track_id="t").model_dump_json().encode())
    await consumer(fails, given_up).consume(msg, broker)
    assert msg.settled == [("reject", True)]  # counted toward the limit on 3.x and 4.3+
    assert broker.published == [] and given_up == []


async def test_failure_on_the_last_delivery_is_dead_lettered_then_acked() -> None:
    job = Job(track_id="t")
    broker, given_up = FakeBroker(), []
    msg = FakeMessage(job.model_dump_json().encode(), delivery_count=DELIVERY_LIMIT - 1)
    await consumer(fails, given_up).consume(msg, broker)
    assert msg.settled == [("ack", None)]
    [dead] = broker.published
    assert dead["routing_key"] == "svc.test.job" and dead["persist"] is True
    assert dead["headers"][ERROR_HEADER] == "RuntimeError: boom"
    assert "x-delivery-count" not in dead["headers"]
    assert given_up == [(job, "RuntimeError: boom")]


async def test_permanent_error_gives_up_on_the_first_delivery() -> None:
    async def hopeless(msg: Job) -> None:
        raise PermanentError("audio is not decodable")

    broker, given_up = FakeBroker(), []
    msg = FakeMessage(Job(track_id="t").model_dump_json().encode())
    await consumer(hopeless, given_up).consume(msg, broker)
    assert msg.settled == [("ack", None)] and len(broker.published) == 1
    assert given_up[0][1] == "PermanentError: audio is not decodable"


async def test_success_is_acked_and_nothing_else() -> None:
    handled: list[Job] = []

    async def ok(msg: Job) -> None:
        handled.append(msg)

    broker, given_up = FakeBroker(), []
    msg = FakeMessage(Job(track_id="t").model_dump_json().encode(), delivery_count=2)
    await consumer(ok, given_up).consume(msg, broker)
    assert msg.settled == [("ack", None)] and len(handled) == 1 and broker.published == []


async def test_poison_body_is_dead_lettered_with_its_error_and_acked() -> None:
    broker, given_up = FakeBroker(), []
    msg = FakeMessage(b'{"track_id": 5}')
    await consumer(fails, given_up).consume(msg, broker)
    assert msg.settled == [("ack", None)]
    error = broker.published[0]["headers"][ERROR_HEADER]
    assert error.startswith("schema: ") and "track_id" in error
    assert given_up == [(b'{"track_id": 5}', error)]


async def test_a_dlq_that_does_not_confirm_returns_the_message() -> None:
    class DownBroker(FakeBroker):
        async def publish(self, body: bytes, **kwargs) -> None:
            raise ConnectionError("broker went away")

    given_up: list = []
    msg = FakeMessage(b"not json")
    await consumer(fails, given_up).consume(msg, DownBroker())
    assert msg.settled == [("reject", True)] and given_up == []
