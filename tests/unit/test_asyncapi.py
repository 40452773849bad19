"""The AsyncAPI document is valid AsyncAPI 3.0 and says what contracts/ says: every routing key,
its payload schema, its producers and its consumers — so it cannot drift from the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from contracts.asyncapi import SCHEMA_REF, asyncapi_document, main, message_for
from contracts.events import ALL_MESSAGES, TrackUploaded
from contracts.topology import BROADCASTS, PUBLISHERS, SUBSCRIPTIONS

OFFICIAL_SCHEMA = Path(__file__).parents[1] / "fixtures" / "asyncapi" / "asyncapi-3.0.0.schema.json"
SERVICES = {"gateway", "ingest", "analyzer", "genesis", "validator", "deployer", "telemetry"}


@pytest.fixture(scope="module")
def doc() -> dict:
    return asyncapi_document()


def _operations(doc: dict, key: str, action: str) -> list[dict]:
    ref = f"#/channels/{key}"
    return [
        op
        for op in doc["operations"].values()
        if op["channel"]["$ref"] == ref and op["action"] == action
    ]


def test_the_document_is_valid_asyncapi_3(doc):
    validator = Draft7Validator(json.loads(OFFICIAL_SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert errors == []
    broken = json.loads(json.dumps(doc))
    next(iter(broken["operations"].values()))["action"] = "publish"  # the 2.x word
    assert not validator.is_valid(broken)


def test_every_reference_resolves(doc):
    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in set(refs(doc)):
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]


def test_every_routing_key_of_the_topology_is_a_channel(doc):
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {s.routing_key for s in SUBSCRIPTIONS} <= addresses
    assert {m.routing_key for m in ALL_MESSAGES} <= addresses
    assert {k for b in BROADCASTS for k in b.routing_keys} <= addresses
    assert set(PUBLISHERS) <= addresses


def test_each_payload_is_the_json_schema_of_its_contract_model(doc):
    schemas = doc["components"]["schemas"]
    for key, channel in doc["channels"].items():
        model = message_for(key)
        [name] = channel["messages"]
        message = doc["components"]["messages"][name]
        assert name == model.__name__ and message["x-k1-routing-key"] == model.routing_key
        assert message["payload"] == {"$ref": SCHEMA_REF.format(model=model.__name__)}
        expected = model.model_json_schema(ref_template=SCHEMA_REF)
        for shared, schema in expected.pop("$defs", {}).items():
            assert schemas[shared] == schema, shared
        assert schemas[model.__name__] == expected, key


def test_a_real_message_validates_against_its_payload_and_a_broken_one_does_not(doc):
    def validator(model) -> Draft202012Validator:
        root = {"$ref": SCHEMA_REF.format(model=model.__name__), "components": doc["components"]}
        return Draft202012Validator(root)

    event = TrackUploaded(
        track_id="t1",
        audio_key="audio/x.wav",
        audio_sha256="a" * 64,
        filename="x.wav",
        content_type="audio/wav",
        size_bytes=10,
    )
    wire = event.model_dump(mode="json")
    assert validator(TrackUploaded).is_valid(wire)
    assert not validator(TrackUploaded).is_valid({**wire, "size_bytes": 0})
    assert not validator(TrackUploaded).is_valid({**wire, "surprise": 1})  # extra="forbid"


def test_producers_and_consumers_are_those_of_the_topology(doc):
    for key in doc["channels"]:
        model = message_for(key)
        senders = {op["x-k1-service"] for op in _operations(doc, key, "send")}
        assert senders == set(PUBLISHERS.get(key) or PUBLISHERS[model.routing_key]), key
        queues = {op["x-k1-queue"]["name"] for op in _operations(doc, key, "receive")}
        expected = {s.queue for s in SUBSCRIPTIONS if s.routing_key == key}
        expected |= {f"{b.name}.*" for b in BROADCASTS if key in b.routing_keys}
        assert queues == expected, key
    track_uploaded = _operations(doc, "track.uploaded", "receive")
    assert {(op["x-k1-service"], op["x-k1-queue"]["name"]) for op in track_uploaded} == {
        ("analyzer", "analyzer.track.uploaded"),
        ("gateway", "gateway.*"),
    }


def test_the_topology_names_a_producer_for_every_message_and_only_known_services():
    assert set(PUBLISHERS) == {m.routing_key for m in ALL_MESSAGES}
    named = {s for services in PUBLISHERS.values() for s in services}
    named |= {s.service for s in SUBSCRIPTIONS} | {b.service for b in BROADCASTS}
    assert named <= SERVICES


def test_the_gateways_broadcast_feeds_are_the_ones_declared():
    from services.gateway.devices.feed import FEED_MODELS as DEVICE_FEED
    from services.gateway.feed import FEED_MODELS as LIVE_FEED

    declared = {b.name: set(b.routing_keys) for b in BROADCASTS}
    assert declared["gateway"] == {m.routing_key for m in LIVE_FEED}
    assert declared["gateway-devices"] == {m.routing_key for m in DEVICE_FEED}


def test_the_command_writes_the_document(tmp_path, capsys):
    out = tmp_path / "docs" / "asyncapi.json"
    assert main(["-o", str(out)]) == 0
    assert json.loads(out.read_text()) == asyncapi_document()
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out) == asyncapi_document()
