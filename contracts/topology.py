"""Broker topology: names every service agrees on.

One durable topic exchange carries every event and command. Each consuming service owns one
durable quorum queue per message it consumes, named ``<service>.<routing key>``. A message that
fails too often (the queue's delivery limit) or fails its schema goes to the dead-letter
exchange, which routes it by the source queue's name into ``<queue>.dlq``.
"""

from __future__ import annotations

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

    @property
    def queue(self) -> str:
        return f"{self.service}.{self.routing_key}"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dlq"


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription("analyzer", "track.uploaded"),
    Subscription("analyzer", "cmd.analysis.request"),
    Subscription("genesis", "beats.detected"),
    Subscription("validator", "map.generated"),
    Subscription("deployer", "map.validated"),
    Subscription("deployer", "cmd.deployment.request"),
    # Drift windows live in the telemetry process's memory: replicas sharing the frames would
    # each see part of a device's traffic and overwrite each other's statistics.
    Subscription("telemetry", "device.telemetry", single_active=True),
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
