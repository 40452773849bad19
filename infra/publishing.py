"""The publishing port: services hand typed messages to a Publisher, never to the broker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from contracts.base import Message

if TYPE_CHECKING:
    from faststream.rabbit import RabbitBroker


@runtime_checkable
class Publisher(Protocol):
    async def publish(self, message: Message) -> None:
        """Publish durably: when this returns, the broker has confirmed the message."""


class RecordingPublisher:
    """Fake publisher for unit tests: keeps every message in order; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.fail_with: Exception | None = None

    async def publish(self, message: Message) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)

    def of(self, model: type[Message]) -> list[Message]:
        return [m for m in self.sent if isinstance(m, model)]


class BrokerPublisher:
    """The real publisher: persistent, confirmed publishing on the events exchange."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def publish(self, message: Message) -> None:
        from infra.broker import publish

        await publish(self._broker, message)
