"""Broker topology: names every service agrees on.

One durable topic exchange carries every event and command. Each consuming service owns one
durable quorum queue per message it consumes, named ``<service>.<routing key>``. A message that
fails too often (the queue's delivery limit) or fails its schema goes to the dead-letter
exchange, which routes it by the source queue's name into ``<queue>.dlq``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

EVENTS_EXCHANGE = "k1.events"
DEAD_LETTER_EXCHANGE = "k1.dead"
DELIVERY_LIMIT = 5
"""Deliveries of one message before it is dead-lettered (first delivery included)."""
ERROR_HEADER = "x-k1-error"
"""Header set on a dead-lettered message with the reason it was given up."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One consuming service's queue for one routing key."""

    service: str
    routing_key: str
    single_active: bool = False
    """One consumer at a time (RabbitMQ's single active consumer): for a service that keeps
    state in memory, its other replicas wait as hot standbys and take over if it goes."""
    dead_letter_key: str | None = None
    """Routing key of its dead letters in ``k1.dead`` (None: the queue's own name); the
    telemetry partitions share the one DLQ of ``telemetry.device.telemetry``."""

    @property
    def queue(self) -> str:
        return f"{self.service}.{self.routing_key}"

    @property
    def dead_letter_source(self) -> str:
        return self.dead_letter_key or self.queue

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.dead_letter_source}.dlq"


# ---- device telemetry, partitioned by device ----------------------------------------------
# A fixed number of partitions: each device's frames always go to the same partition queue
# (crc32 of its id), and each partition queue has one active consumer at a time, so exactly
# one telemetry process sees all of a device's frames. Processes own whole partitions, so
# at most TELEMETRY_PARTITIONS processes share the load. Changing the number remaps devices:
# drain the queues first (see docs/telemetry.md).
TELEMETRY_PARTITIONS = 16
TELEMETRY_KEY = "device.telemetry"
"""Unpartitioned batches (older gateways): split into the partitions by the telemetry service."""


def telemetry_partition(device_id: str) -> int:
    """The partition of ``device_id``: CRC-32 of its UTF-8 id modulo the partition count."""
    return zlib.crc32(device_id.encode()) % TELEMETRY_PARTITIONS


def telemetry_routing_key(partition: int) -> str:
    """Routing key of partition ``partition``'s batches: ``device.telemetry.p07``."""
    if not 0 <= partition < TELEMETRY_PARTITIONS:
        raise ValueError(f"partition {partition} is not in 0..{TELEMETRY_PARTITIONS - 1}")
    return f"{TELEMETRY_KEY}.p{partition:02d}"


def telemetry_partitions_owned(ordinal: int, replicas: int) -> tuple[int, ...]:
    """Partitions process ``ordinal`` of ``replicas`` consumes: every ``replicas``-th one."""
    if replicas < 1 or not 0 <= ordinal < replicas:
        raise ValueError(f"ordinal {ordinal} is not in 0..{replicas - 1}")
    return tuple(range(ordinal, TELEMETRY_PARTITIONS, replicas))


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription("analyzer", "track.uploaded"),
    Subscription("analyzer", "cmd.analysis.request"),
    Subscription("genesis", "beats.detected"),
    Subscription("validator", "map.generated"),
    Subscription("deployer", "map.validated"),
    Subscription("deployer", "cmd.deployment.request"),
    # Drift windows live in the telemetry process's memory: replicas sharing a device's frames
    # would each see part of its traffic. The unpartitioned queue only splits batches of older
    # gateways into the partitions; each partition has one active consumer at a time.
    Subscription("telemetry", TELEMETRY_KEY, single_active=True),
    *(
        Subscription(
            "telemetry",
            telemetry_routing_key(p),
            single_active=True,
            dead_letter_key=f"telemetry.{TELEMETRY_KEY}",
        )
        for p in range(TELEMETRY_PARTITIONS)
    ),
    Subscription("deployer", "device.delivered"),
    Subscription("deployer", "device.bundle.ack"),
    Subscription("deployer", "device.connected"),
)
"""Every durable subscription in the system; the k8s manifests and docs list the same."""


def subscription(service: str, routing_key: str) -> Subscription:
    """The declared subscription of ``service`` to ``routing_key`` (KeyError if undeclared)."""
    for sub in SUBSCRIPTIONS:
        if sub.service == service and sub.routing_key == routing_key:
            return sub
    raise KeyError(f"{service} does not subscribe to {routing_key}")


# ---- who publishes, and who listens without a durable queue ----------------------------------
PUBLISHERS: dict[str, tuple[str, ...]] = {
    "track.uploaded": ("ingest",),  # also re-published by ingest's reconciler when stuck
    "cmd.analysis.request": ("gateway", "ingest"),  # ingest: the reconciler's re-publish
    "analysis.progress": ("analyzer",),
    "analysis.failed": ("analyzer",),
    "beats.detected": ("analyzer",),
    "map.generated": ("analyzer", "gateway", "ingest"),  # genesis; an uploaded map; reconciler
    "map.validated": ("validator",),
    "map.rejected": ("validator",),
    "cmd.deployment.request": ("gateway",),
    "bundle.built": ("deployer",),
    "bundle.deployed": ("deployer",),
    "device.offer": ("deployer",),
    "device.delivered": ("gateway",),
    "device.bundle.ack": ("gateway",),
    "device.connected": ("gateway",),
    "device.disconnected": ("gateway",),
    "device.telemetry": ("gateway",),
    "telemetry.alert": ("telemetry",),
}
"""The services that publish each message (by its model's routing key)."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Routing keys every process of ``service`` receives through its own exclusive,
    auto-deleted queue ``<name>.<process id>`` (live updates; nothing is kept for it)."""

    service: str
    name: str
    routing_keys: tuple[str, ...]
    purpose: str


BROADCASTS: tuple[Broadcast, ...] = (
    Broadcast(
        "gateway",
        "gateway",
        (
            "analysis.progress",
            "beats.detected",
            "map.generated",
            "map.validated",
            "map.rejected",
            "analysis.failed",
            "track.uploaded",
        ),
        "live track updates for dashboards, read-cache invalidation",
    ),
    Broadcast(
        "gateway",
        "gateway-devices",
        (
            "device.offer",
            "telemetry.alert",
            "bundle.deployed",
            "device.connected",
            "device.disconnected",
        ),
        "offers for the devices whose socket it holds, fleet updates for dashboards",
    ),
)
