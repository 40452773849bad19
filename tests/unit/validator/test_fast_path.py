"""The fast path (msgspec mirror, lists kept raw, hash from a skeleton) agrees with the contract.

Every shortcut of ``fast_schema`` must give exactly ``compute_map_sha256(json.loads(raw))``, or
step aside for the exact computation; the semantic rules must not change with their speed-ups.
"""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest

from contracts.canonical import compute_map_sha256, seal_map
from services.validator.domain import fast_schema, validate_map
from services.validator.domain.semantics import _median

RATE_HZ = 8.0
DURATION_MS = 60_000.0


def _map() -> dict:
    beats = [500.0 + i * 500.0 for i in range(119)]
    frames = int(DURATION_MS * RATE_HZ / 1000) + 1
    envelope = {
        "start_ms": 0.0,
        "frame_rate_hz": RATE_HZ,
        "values": [round((i % 89) / 88, 3) for i in range(frames)],
    }
    return {
        "metadata": {
            "filename": "song.wav",
            "analysis_engine": "k1-genesis",
            "timestamp_utc": "2025-10-31T12:00:00Z",
            "version": "4.0.0",
            "hashes": {"audio_sha256": hashlib.sha256(b"song").hexdigest()},
        },
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
                "beat_strength": [round((i % 7) / 7, 3) for i in range(len(beats))],
            },
            "frequency": {
                "bass": envelope,
                "mids": copy.deepcopy(envelope),
                "highs": copy.deepcopy(envelope),
            },
            "choreography": {"preset": "p", "intensity": copy.deepcopy(envelope)},
        },
    }


def _compact(doc: dict, **dumps) -> bytes:
    return json.dumps(doc, separators=(",", ":"), **dumps).encode()


def _exact(raw: bytes) -> str:
    return compute_map_sha256(json.loads(raw))


def test_a_canonical_map_takes_the_whole_fast_path() -> None:
    raw = _compact(seal_map(_map()), sort_keys=True)
    doc, counts, as_written = fast_schema.fast_decode(raw)
    assert as_written and counts == {
        "layers.frequency.bass": 481,
        "layers.frequency.mids": 481,
        "layers.frequency.highs": 481,
        "layers.choreography.intensity": 481,
        "layers.rhythm.beat_strength": 119,
    }
    assert fast_schema.fast_map_sha256(doc, as_written) == _exact(raw)
    report = validate_map(raw)
    assert report.ok and report.map_sha256 == json.loads(raw)["metadata"]["hashes"]["map_sha256"]


# Spellings of a number in [0, 1] (and a few that are not): canonical ones are vouched for as
# written, the others are decoded and re-encoded, or the map leaves the fast path.
SPELLINGS = [
    "0",
    "1",
    "0.0",
    "1.0",
    "0.5",
    "0.50",
    "0.05",
    "0.0001",
    "0.00010",
    "0.00005",
    "1e-05",
    "5E-1",
    "0.1e1",
    "1.00",
    "1.5",
    "2.0",
    "0.30000000000000004",
    "0.12345678901234",
    "0.123456789012345",
    "0.1234567890123456",
    "0.000123",
    "-0.0",
    "-0",
    "0.99999999999999999",
    "1.0000000000000001",
    "10",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("where", ["envelope", "beat_strength"])
def test_any_number_spelling_gives_the_contract_hash(spelling: str, where: str) -> None:
    sealed = seal_map(_map())
    raw = _compact(sealed, sort_keys=True)
    key = (
        b'"highs":{"frame_rate_hz":8.0,"start_ms":0.0,"values":['
        if where == "envelope"
        else b'"beat_strength":['
    )
    at = raw.index(key) + len(key)
    end = raw.index(b",", at)
    raw = raw[:at] + spelling.encode() + raw[end:]
    report = validate_map(raw)
    assert report.map_sha256 == _exact(raw)
    # Valid exactly when the number is in [0, 1] and parses to the value that was sealed.
    claimed = sealed["metadata"]["hashes"]["map_sha256"]
    assert report.ok == (0 <= float(spelling) <= 1 and _exact(raw) == claimed)


def test_lexical_check_vouches_only_for_canonical_unit_lists() -> None:
    def vouched(*lists: bytes) -> list[int] | None:
        return fast_schema._lexical_unit_counts([memoryview(lst) for lst in lists])

    assert vouched(b"[0.5,0.25,1.0,0.0]", b"[0.001]") == [4, 1]
    assert vouched(b"[0.12345678901234]") == [1]
    assert vouched() == []
    for bad in (
        b"[0.5,0.250]",
        b"[0.5,1.5]",
        b"[1.05]",
        b"[0.00001]",
        b"[0,0.5]",
        b"[1]",
        b"[0.5, 0.5]",
        b"[0.123456789012345]",
        b"[2.0]",
        b"[0.5e0]",
        b"[-0.0]",
        b"[0.5,[0.5]]",
        b"[]",
        b"[0.10]",
        b"[0.0000]",
    ):
        assert vouched(b"[0.5]", bad) is None, bad


def test_a_digest_or_a_string_with_number_like_parts_keeps_the_fast_hash() -> None:
    doc = _map()
    doc["metadata"]["hashes"]["audio_sha256"] = "3e5" + "0" * 61
    doc["metadata"]["filename"] = "take 2e5 v1e3-7e1.wav"
    raw = _compact(seal_map(doc), sort_keys=True)
    fast, counts, as_written = fast_schema.fast_decode(raw)
    assert fast_schema.fast_map_sha256(fast, as_written) == _exact(raw)
    assert validate_map(raw).ok
    # A string that does look like such a number only costs the exact computation.
    doc["metadata"]["filename"] = "take:1e5,0.00001.wav"
    raw = _compact(seal_map(doc), sort_keys=True)
    fast, counts, as_written = fast_schema.fast_decode(raw)
    assert fast_schema.fast_map_sha256(fast, as_written) is None
    assert validate_map(raw).ok


def test_floats_msgspec_writes_unlike_python_send_the_hash_to_the_exact_path() -> None:
    doc = _map()
    doc["metadata"]["analysis_config"] = {"tiny": 1e-7, "small": 5e-5, "huge": 1e17}
    raw = _compact(seal_map(doc))
    fast, _, as_written = fast_schema.fast_decode(raw)
    assert fast_schema.fast_map_sha256(fast, as_written) is None  # msgspec: 0.0000001, 1e17
    report = validate_map(raw)
    assert report.ok and report.map_sha256 == _exact(raw)


def test_a_changed_value_is_caught_by_the_hash_a_respelled_one_is_not() -> None:
    raw = _compact(seal_map(_map()), sort_keys=True)
    key = b'"beat_strength":[0.0,'
    assert key in raw
    changed = validate_map(raw.replace(key, b'"beat_strength":[0.001,'))
    assert not changed.ok and {i.field for i in changed.issues} == {"metadata.hashes.map_sha256"}
    respelled = validate_map(raw.replace(key, b'"beat_strength":[0.000,'))
    assert respelled.ok


def test_empty_beat_strength_is_counted_and_hashed() -> None:
    doc = _map()
    doc["layers"]["rhythm"]["beat_strength"] = []
    raw = _compact(seal_map(doc), sort_keys=True)
    fast, counts, as_written = fast_schema.fast_decode(raw)
    assert as_written and counts["layers.rhythm.beat_strength"] == 0
    assert validate_map(raw).ok


def test_a_one_beat_grid_with_downbeats_is_judged_not_crashed() -> None:
    doc = _map()
    doc["layers"]["rhythm"].update(
        beat_grid_ms=[500.0], downbeat_ms=[520.0, 900.0], beat_strength=[0.5]
    )
    report = validate_map(_compact(seal_map(doc)))
    assert report.ok and report.outcome == "warning"
    assert report.warnings == ["1 downbeat(s) lie beyond the ends of the beat grid"]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 400])
def test_median_is_numpys(size: int) -> None:
    rng = np.random.default_rng(size)
    for values in (rng.random(size), np.round(rng.random(size) * 10, 1), np.full(size, 3.0)):
        assert _median(values) == float(np.median(values))
    with_nan = rng.random(size)
    with_nan[size // 2] = np.nan
    assert np.isnan(_median(with_nan)) and np.isnan(np.median(with_nan))


def test_digit_runs_are_measured_exactly() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        digits = rng.random(int(rng.integers(1, 120))) < rng.choice([0.5, 0.9, 0.99])
        longest = max(
            (len(run) for run in "".join("1" if d else " " for d in digits).split()), default=0
        )
        assert fast_schema._has_digit_run(digits, 15) == (longest >= 15)


def _tricky_layouts() -> list[bytes]:
    """Bytes where cutting the unit lists out before decoding could go wrong."""
    raw = _compact(seal_map(_map()), sort_keys=True)
    values = b'"values":[0.0,'
    return [
        raw,
        _compact(seal_map(_map())),  # not sorted
        json.dumps(seal_map(_map()), indent=1).encode(),  # spaced: nothing is cut
        raw.replace(b'"filename":"song.wav"', b'"filename":"x\\"values\\":[0.5]"'),
        raw.replace(b'"filename":"song.wav"', b'"filename":"\\u0000@0"'),
        raw.replace(b'"version":"4.0.0"', b'"version":"4.0.0","x\\"values":[1,2]'),
        raw.replace(b'"preset":"p"', b'"preset":"p","extra":{"values":[0.5]}'),
        raw.replace(
            b'"layers":{', b'"layers":{"annotations":{"values":[0.5],"bass":{"values":[1]}},'
        ),
        raw.replace(values, b'"values":[0.5],"values":[0.0,', 1),  # a repeated key
        raw.replace(values, b'"values":[[0.5],0.0,', 1),  # a list inside
        raw.replace(values, b'"values":["\\u0000@1",0.0,', 1),
        raw.replace(values, b'"values":[0.0 ,', 1),
        raw.replace(b'"beat_strength":[0.0,', b'"beat_strength":[],"x":[0.0,', 1),
        raw.replace(values, b'"values":[', 1)[:-40],  # cut short
    ]


@pytest.mark.parametrize("index", range(len(_tricky_layouts())))
def test_cutting_the_unit_lists_out_decodes_like_the_plain_decoder(index: int) -> None:
    raw = _tricky_layouts()[index]

    def decoded(decode):
        try:
            return fast_schema._ENCODER.encode(decode(raw))
        except (fast_schema.msgspec.DecodeError, ValueError, TypeError) as exc:
            return type(exc)

    assert decoded(fast_schema._decode_without_unit_lists) == decoded(fast_schema._DECODER.decode)
    report = validate_map(raw)
    try:
        assert report.map_sha256 == _exact(raw)
    except ValueError:  # not JSON
        assert report.map_sha256 is None and not report.ok


@pytest.mark.parametrize(
    ("signature", "ok"),
    [
        ("6/8", True),
        ("4/4", True),
        ("12/8", True),
        ("7/8", True),
        ("6/7", False),
        ("0/4", False),
        ("four", False),
    ],
)
def test_a_time_signature_is_checked_alike_on_both_paths(signature: str, ok: bool) -> None:
    doc = _map()
    doc["layers"]["rhythm"]["time_signature"] = signature
    raw = _compact(seal_map(doc), sort_keys=True)
    assert (fast_schema.fast_decode(raw) is not None) is ok
    report = validate_map(raw)
    assert report.ok is ok
    if not ok:
        assert any("time_signature" in str(issue) for issue in report.issues)
