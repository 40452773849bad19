"""validate_map: a good map is ready; every problem of a bad one is listed at its field."""

from __future__ import annotations

import copy
import json

import pytest

from contracts.canonical import compute_map_sha256, seal_map
from contracts.device_limits import DeviceLimits
from contracts.genesis_map import SEED_EXAMPLE_MAP, GenesisMapV4
from services.validator.domain import validate_map

AUDIO_SHA = "c" * 64
RATE_HZ = 8.0
DURATION_MS = 120_000.0


def _map() -> dict:
    beats = [500.0 + i * 500.0 for i in range(239)]
    frames = int(DURATION_MS * RATE_HZ / 1000) + 1
    envelope = {
        "start_ms": 0.0,
        "frame_rate_hz": RATE_HZ,
        "values": [round((i % 97) / 96, 3) for i in range(frames)],
    }
    return {
        "metadata": {**SEED_EXAMPLE_MAP["metadata"], "hashes": {"audio_sha256": AUDIO_SHA}},
        "global_metrics": {
            "duration_ms": DURATION_MS,
            "bpm": 120.0,
            "f_measure": 0.9,
            "cemgil": 0.7,
        },
        "layers": {
            "rhythm": {
                "beat_grid_ms": beats,
                "downbeat_ms": beats[::4],
                "beat_strength": [0.5] * len(beats),
                "beats_per_bar": 4,
            },
            "frequency": {
                "bass": envelope,
                "mids": copy.deepcopy(envelope),
                "highs": copy.deepcopy(envelope),
            },
            "annotations": {
                "sections": [
                    {"start_ms": 0, "end_ms": 60_000.0, "label": "intro"},
                    {"start_ms": 60_000.0, "end_ms": DURATION_MS, "label": "drop"},
                ],
                "drops_ms": [60_000.0],
            },
        },
    }


def _raw(doc: dict, seal: bool = True, **dumps) -> bytes:
    return json.dumps(seal_map(doc) if seal else doc, **dumps).encode()


def _fields(report) -> set[str]:
    return {issue.field for issue in report.issues}


def test_a_good_map_is_ready_with_its_hash() -> None:
    sealed = seal_map(_map())
    report = validate_map(json.dumps(sealed).encode(), expected_audio_sha256=AUDIO_SHA)
    assert (report.ok, report.outcome, report.issues) == (True, "ready", [])
    assert report.map_sha256 == sealed["metadata"]["hashes"]["map_sha256"]


def test_seed_example_passes_schema_and_semantics_without_hashes() -> None:
    report = validate_map(json.dumps(SEED_EXAMPLE_MAP).encode(), check_hashes=False)
    assert report.ok and report.issues == []
    # Its downbeats run past its three-beat excerpt of a grid: valid, but flagged.
    assert report.outcome == "warning"


def test_seed_example_fake_hash_is_caught() -> None:
    report = validate_map(json.dumps(SEED_EXAMPLE_MAP).encode())
    assert not report.ok and _fields(report) == {"metadata.hashes.map_sha256"}


@pytest.mark.parametrize(
    "values",
    [
        [0, 1, 0.5],
        [1e-05, 0.3],
        [0.30000000000000004, 0.1],
        [0.10, 0.2],
        [0.5] * 3,
    ],
)
def test_hash_matches_the_canonical_definition_for_any_number_spelling(values) -> None:
    doc = _map()
    doc["layers"]["frequency"]["mids"] = {"frame_rate_hz": RATE_HZ, "values": values}
    doc["metadata"]["analysis_config"] = {"tiny": 1e-7, "huge": 1e17, "n": 3}
    for raw in (
        _raw(doc, seal=False),
        _raw(doc, seal=False, indent=2),
        _raw(doc, seal=False, separators=(",", ":")),
    ):
        raw = raw.replace(b"0.2]", b"0.20]")  # a spelling that is not canonical
        assert validate_map(raw, check_hashes=False).map_sha256 == compute_map_sha256(
            json.loads(raw)
        )


def test_every_semantic_problem_is_listed_at_its_field() -> None:
    doc = _map()
    rhythm = doc["layers"]["rhythm"]
    rhythm["beat_grid_ms"][10] = rhythm["beat_grid_ms"][9]  # not strictly increasing
    rhythm["downbeat_ms"][3] += 200.0  # off the grid
    rhythm["beat_strength"] = rhythm["beat_strength"][:-5]
    doc["global_metrics"]["bpm"] = 140.0
    doc["layers"]["frequency"]["highs"]["values"] = doc["layers"]["frequency"]["highs"]["values"][
        :500
    ]
    doc["layers"]["annotations"]["sections"][1]["start_ms"] = 50_000.0  # overlaps
    doc["layers"]["annotations"]["drops_ms"] = [130_000.0]
    report = validate_map(_raw(doc))
    assert not report.ok and report.outcome is None
    assert _fields(report) == {
        "layers.rhythm.beat_grid_ms[10]",
        "layers.rhythm.downbeat_ms[3]",
        "layers.rhythm.beat_strength",
        "global_metrics.bpm",
        "layers.frequency.highs",
        "layers.annotations.sections[1]",
        "layers.annotations.drops_ms[0]",
    }


def test_schema_errors_name_the_field_and_keep_the_hash_check() -> None:
    doc = _map()
    doc["layers"]["rhythm"]["beat_strength"][2] = 1.5
    doc["layers"]["frequency"]["bass"]["values"][3] = 2
    doc["layers"]["annotations"]["sections"][0]["label"] = "chorus"
    raw = _raw(doc, seal=False).replace(b'"audio_sha256"', b'"map_sha256": "0", "audio_sha256"')
    report = validate_map(raw)
    assert _fields(report) == {
        "layers.rhythm.beat_strength[2]",
        "layers.frequency.bass.values[3]",
        "layers.annotations.sections[0].label",
        "metadata.hashes.map_sha256",
    }
    assert any("(got 1.5)" in issue.message for issue in report.issues)


def test_fast_path_never_accepts_what_pydantic_rejects() -> None:
    mutations = [
        ("global_metrics", "bpm", 301),
        ("global_metrics", "quality", "bad"),
        ("global_metrics", "extra", 1),
        ("metadata", "timestamp_utc", "yesterday"),
        ("metadata", "hashes", {"map_sha256": "x"}),
        ("layers", "dynamics", [1]),
    ]
    for section, key, value in mutations:
        doc = _map()
        doc[section][key] = value
        raw = _raw(doc, seal=False)
        with pytest.raises(ValueError):
            GenesisMapV4.model_validate_json(raw)
        assert not validate_map(raw, check_hashes=False).ok, (section, key)


def test_broken_json_reports_where() -> None:
    report = validate_map(b'{"metadata": {"filename": "a",}}')
    assert not report.ok
    assert "line 1 column 31" in report.issues[0].message


def test_device_limits_and_audio_hash_are_enforced() -> None:
    raw = _raw(_map())
    small = DeviceLimits(
        max_map_bytes=1_000,
        max_beats=100,
        max_duration_ms=60_000.0,
        max_envelope_frames=100,
        max_sections=1,
    )
    report = validate_map(raw, limits=small, expected_audio_sha256="d" * 64)
    assert {
        "$",
        "global_metrics.duration_ms",
        "layers.rhythm.beat_grid_ms",
        "layers.annotations.sections",
        "layers.frequency.bass",
        "metadata.hashes.audio_sha256",
    } <= _fields(report)


def test_no_beats_or_a_flagged_map_is_valid_but_a_warning() -> None:
    doc = _map()
    doc["layers"]["rhythm"] = {"beat_grid_ms": []}
    doc["global_metrics"]["bpm"] = 0
    report = validate_map(_raw(doc))
    assert report.ok and report.outcome == "warning" and "no beats" in report.warnings[0]
    doc = _map()
    doc["global_metrics"].update(quality="warning", warnings=["clipped audio"])
    report = validate_map(_raw(doc))
    assert (report.ok, report.outcome, report.warnings) == (True, "warning", ["clipped audio"])


def test_point_envelopes_must_be_evenly_framed() -> None:
    doc = _map()
    doc["layers"]["frequency"]["mids"] = [
        {"time_ms": t, "intensity": 0.5} for t in (0, 100, 200, 350, 400)
    ]
    report = validate_map(_raw(doc))
    assert _fields(report) == {"layers.frequency.mids[3].time_ms"}
