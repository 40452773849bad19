"""The AsyncAPI 3.0 document of the event bus, generated from the contracts.

Channels are routing keys on the ``k1.events`` topic exchange (``contracts.topology``); each
carries one message whose payload is the JSON Schema of its model in ``contracts.events``. An
operation per producer (``send``) and per consumer (``receive``: a service's durable queue, or
the exclusive broadcast queue every gateway process has) says who is on each end.

``python -m contracts.asyncapi [-o FILE]`` writes it; the gateway serves it at
``/schema/asyncapi.json``. No I/O at import.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from contracts.base import SCHEMA_VERSION, Message
from contracts.events import ALL_MESSAGES
from contracts.topology import (
    BROADCASTS,
    DEAD_LETTER_EXCHANGE,
    DELIVERY_LIMIT,
    EVENTS_EXCHANGE,
    PUBLISHERS,
    SUBSCRIPTIONS,
)

ASYNCAPI_VERSION = "3.0.0"
SCHEMA_REF = "#/components/schemas/{model}"
_AMQP_BINDING_VERSION = "0.3.0"


def message_for(routing_key: str) -> type[Message]:
    """The contract model published under ``routing_key``: the model of that key, or of the
    longest key it extends (``device.telemetry.p07`` → ``device.telemetry``)."""
    candidates = [
        m
        for m in ALL_MESSAGES
        if routing_key == m.routing_key or routing_key.startswith(m.routing_key + ".")
    ]
    if not candidates:
        raise KeyError(f"no message model for routing key {routing_key!r}")
    return max(candidates, key=lambda m: len(m.routing_key))


def routing_keys() -> list[str]:
    """Every routing key a service publishes, consumes or receives by broadcast."""
    keys = {m.routing_key for m in ALL_MESSAGES} | {s.routing_key for s in SUBSCRIPTIONS}
    keys |= {key for b in BROADCASTS for key in b.routing_keys}
    return sorted(keys)


def payload_schemas() -> dict[str, Any]:
    """Every message model's JSON Schema (validation mode), with the models they share."""
    _, top = models_json_schema([(m, "validation") for m in ALL_MESSAGES], ref_template=SCHEMA_REF)
    return dict(top.get("$defs", {}))


def _channel(key: str, model: type[Message]) -> dict[str, Any]:
    return {
        "address": key,
        "title": model.__name__,
        "description": _doc(model),
        "messages": {model.__name__: {"$ref": f"#/components/messages/{model.__name__}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": EVENTS_EXCHANGE, "type": "topic", "durable": True},
                "bindingVersion": _AMQP_BINDING_VERSION,
            }
        },
    }


def _operation(action: str, key: str, model: type[Message], service: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{_pointer(key)}"},
        "messages": [{"$ref": f"#/channels/{_pointer(key)}/messages/{model.__name__}"}],
        "x-k1-service": service,
    }
    amqp = {"deliveryMode": 2, "mandatory": True} if action == "send" else {"ack": True}
    op["bindings"] = {"amqp": {**amqp, "bindingVersion": _AMQP_BINDING_VERSION}}
    return op


def _operations(key: str, model: type[Message]) -> dict[str, dict[str, Any]]:
    ops: dict[str, dict[str, Any]] = {}
    for service in PUBLISHERS.get(key) or PUBLISHERS.get(model.routing_key, ()):
        op = _operation("send", key, model, service)
        op["summary"] = f"{service} publishes {model.__name__}"
        ops[f"{service}.send.{key}"] = op
    for sub in (s for s in SUBSCRIPTIONS if s.routing_key == key):
        op = _operation("receive", key, model, sub.service)
        op["summary"] = f"{sub.service} consumes it from its durable queue {sub.queue}"
        op["x-k1-queue"] = {
            "name": sub.queue,
            "type": "quorum",
            "durable": True,
            "delivery_limit": DELIVERY_LIMIT,
            "dead_letter_exchange": DEAD_LETTER_EXCHANGE,
            "dead_letter_queue": sub.dead_letter_queue,
            "single_active_consumer": sub.single_active,
        }
        ops[f"{sub.service}.receive.{key}"] = op
    for broadcast in (b for b in BROADCASTS if key in b.routing_keys):
        op = _operation("receive", key, model, broadcast.service)
        op["summary"] = (
            f"every {broadcast.service} process receives it ({broadcast.purpose}) through its "
            f"own exclusive, auto-deleted queue `{broadcast.name}.<process id>`"
        )
        op["x-k1-queue"] = {"name": f"{broadcast.name}.*", "exclusive": True, "durable": False}
        ops[f"{broadcast.name}.receive.{key}"] = op
    return ops


@cache
def _document() -> str:
    schemas = payload_schemas()
    channels, operations, messages = {}, {}, {}
    for key in routing_keys():
        model = message_for(key)
        channels[key] = _channel(key, model)
        operations.update(_operations(key, model))
        messages[model.__name__] = {
            "name": model.__name__,
            "title": model.__name__,
            "summary": (model.__doc__ or model.__name__).strip().split("\n")[0],
            "contentType": "application/json",
            "payload": {"$ref": SCHEMA_REF.format(model=model.__name__)},
            "x-k1-routing-key": model.routing_key,
        }
    document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "K1 Song Analysis events",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                f"Every event and command on the `{EVENTS_EXCHANGE}` topic exchange: persistent "
                "JSON, `message_id` = `event_id`, W3C `traceparent` header. A consumer's queue "
                f"dead-letters a message after {DELIVERY_LIMIT} deliveries into "
                f"`{DEAD_LETTER_EXCHANGE}` → `<queue>.dlq`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ (K1_AMQP_URL)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
    return json.dumps(document, indent=2, sort_keys=False)


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document (a fresh copy)."""
    return json.loads(_document())


def asyncapi_json() -> bytes:
    return _document().encode()


def _doc(model: type) -> str:
    return " ".join((model.__doc__ or model.__name__).split())


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.asyncapi", description=__doc__)
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    if args.output is None:
        sys.stdout.write(_document() + "\n")
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(_document() + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
