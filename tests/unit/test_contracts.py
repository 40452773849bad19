"""Contracts: the Genesis Map v4 schema, canonical hashing and event envelopes."""

import copy
import json

import pytest
from pydantic import ValidationError

from contracts import events
from contracts.canonical import canonical_json, compute_map_sha256, seal_map
from contracts.genesis_map import SEED_EXAMPLE_MAP, GenesisMapV4
from contracts.topology import SUBSCRIPTIONS, subscription

SEED_TEST_MAP = {  # the map of the seeds' unit test `test_genesis_map_validation`
    "metadata": {
        "filename": "test.mp3",
        "analysis_engine": "test",
        "timestamp_utc": "2025-10-31T12:00:00Z",
        "version": "4.0.0",
        "hashes": {"audio_sha256": "a" * 64, "map_sha256": "b" * 64},
        "analysis_config": {},
    },
    "global_metrics": {"duration_ms": 240000, "bpm": 128, "f_measure": 0.95, "cemgil": 0.68},
    "layers": {
        "rhythm": {"beat_grid_ms": [468, 937], "downbeat_ms": [468], "beat_strength": [0.9, 0.85]},
        "frequency": {
            "bass": [{"time_ms": 0, "intensity": 0.5}],
            "mids": [{"time_ms": 0, "intensity": 0.3}],
            "highs": [{"time_ms": 0, "intensity": 0.2}],
        },
    },
}


def _errors(doc) -> list[str]:
    with pytest.raises(ValidationError) as info:
        GenesisMapV4.model_validate(doc)
    return [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]


@pytest.mark.parametrize("doc", [SEED_EXAMPLE_MAP, SEED_TEST_MAP], ids=["example", "unit-test"])
def test_seed_maps_validate(doc):
    parsed = GenesisMapV4.model_validate(doc)
    assert parsed.global_metrics.bpm == doc["global_metrics"]["bpm"]


def test_intensity_above_one_is_rejected_naming_the_field():
    doc = copy.deepcopy(SEED_EXAMPLE_MAP)
    doc["layers"]["frequency"]["bass"][0]["intensity"] = 1.5
    assert _errors(doc) == ["layers.frequency.bass.points.0.intensity"]


def test_missing_map_sha256_is_rejected_naming_the_field():
    doc = copy.deepcopy(SEED_EXAMPLE_MAP)
    del doc["metadata"]["hashes"]["map_sha256"]
    with pytest.raises(ValidationError, match="map_sha256"):
        GenesisMapV4.model_validate(doc)
    assert _errors(doc) == ["metadata.hashes"]


def test_negative_time_is_rejected_naming_the_field():
    doc = copy.deepcopy(SEED_EXAMPLE_MAP)
    doc["layers"]["frequency"]["highs"][0]["time_ms"] = -5
    assert _errors(doc) == ["layers.frequency.highs.points.0.time_ms"]


def test_sampled_envelope_form_is_accepted_and_range_checked():
    doc = copy.deepcopy(SEED_EXAMPLE_MAP)
    doc["layers"]["frequency"]["bass"] = {"frame_rate_hz": 50, "values": [0.0, 0.5, 1.0]}
    GenesisMapV4.model_validate(doc)
    doc["layers"]["frequency"]["bass"]["values"][1] = 1.01
    assert _errors(doc) == ["layers.frequency.bass.sampled.values.1"]


def test_free_form_layers_of_the_seeds_stay_valid_but_ours_are_typed():
    doc = copy.deepcopy(SEED_EXAMPLE_MAP)
    doc["layers"]["annotations"] = {"anything": [1, 2]}
    GenesisMapV4.model_validate(doc)
    doc["layers"]["annotations"] = {"sections": [{"start_ms": 0, "end_ms": 9, "label": "chorus"}]}
    assert _errors(doc) == ["layers.annotations.typed.sections.0.label"]


def test_map_hash_ignores_its_own_field_and_key_order():
    sealed = seal_map(SEED_EXAMPLE_MAP)
    assert sealed["metadata"]["hashes"]["map_sha256"] == compute_map_sha256(sealed)
    reordered = json.loads(json.dumps(sealed, sort_keys=False))
    reordered["metadata"] = dict(reversed(list(reordered["metadata"].items())))
    assert compute_map_sha256(reordered) == sealed["metadata"]["hashes"]["map_sha256"]
    tampered = copy.deepcopy(sealed)
    tampered["global_metrics"]["bpm"] = 129.0
    assert compute_map_sha256(tampered) != sealed["metadata"]["hashes"]["map_sha256"]


def test_canonical_json_is_compact_sorted_and_refuses_nan():
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_every_event_has_an_envelope_and_a_unique_routing_key():
    keys = [m.routing_key for m in events.ALL_MESSAGES]
    assert len(keys) == len(set(keys)) and all(keys)
    for model in events.ALL_MESSAGES:
        fields = model.model_fields
        assert {"event_id", "schema_version", "occurred_at", "trace"} <= fields.keys()
        for name, info in fields.items():
            assert info.annotation is not None, name


def test_event_round_trips_through_json_and_rejects_unsafe_ids():
    ev = events.TrackUploaded(
        track_id="t1",
        audio_key="audio/t1",
        audio_sha256="c" * 64,
        filename="a.wav",
        content_type="audio/wav",
        size_bytes=10,
    )
    again = events.TrackUploaded.model_validate_json(ev.model_dump_json())
    assert again == ev
    with pytest.raises(ValidationError, match="track_id"):
        events.TrackUploaded.model_validate({**ev.model_dump(), "track_id": "../etc"})


def test_every_subscription_names_a_known_routing_key():
    known = {m.routing_key for m in events.ALL_MESSAGES}
    for sub in SUBSCRIPTIONS:
        partitioned = sub.routing_key.startswith("device.telemetry.p")
        assert (sub.routing_key.rsplit(".", 1)[0] if partitioned else sub.routing_key) in known
        source = "telemetry.device.telemetry" if partitioned else sub.queue
        assert sub.dead_letter_queue == f"{source}.dlq"
    assert subscription("validator", "map.generated").queue == "validator.map.generated"
