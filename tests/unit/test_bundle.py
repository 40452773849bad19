"""The device bundle round-trips a map and refuses anything damaged with a clear reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contracts.bundle import FORMAT_VERSION, HEADER, BundleError, decode_bundle, encode_bundle
from contracts.genesis_map import SEED_EXAMPLE_MAP

RATE_HZ = 10.0
DURATION_MS = 240_000.0


def _four_minute_map() -> dict:
    rng = np.random.default_rng(7)
    beats = [round(500.0 + i * 468.75, 2) for i in range(500)]
    frames = int(DURATION_MS * RATE_HZ / 1000) + 1

    def envelope() -> dict:
        return {
            "start_ms": 0.0,
            "frame_rate_hz": RATE_HZ,
            "values": [round(float(v), 3) for v in rng.random(frames)],
        }

    bounds = [0, 30_000, 60_000, 90_000, 150_000, 200_000, DURATION_MS]
    labels = ["intro", "verse", "build", "drop", "breakdown", "outro"]
    return {
        "metadata": SEED_EXAMPLE_MAP["metadata"],
        "global_metrics": {
            "duration_ms": DURATION_MS,
            "bpm": 128.0,
            "f_measure": 0.9,
            "cemgil": 0.7,
        },
        "layers": {
            "rhythm": {
                "beat_grid_ms": beats,
                "downbeat_ms": beats[::4],
                "beat_strength": [0.5] * len(beats),
            },
            "frequency": {"bass": envelope(), "mids": envelope(), "highs": envelope()},
            "annotations": {
                "sections": [
                    {"start_ms": a, "end_ms": b, "label": label, "energy": 0.25 * (i % 4)}
                    for i, (a, b, label) in enumerate(zip(bounds, bounds[1:], labels, strict=False))
                ]
            },
            "choreography": {"preset": "edm", "intensity": envelope()},
        },
    }


@pytest.fixture(scope="module")
def song_map() -> dict:
    return _four_minute_map()


@pytest.fixture(scope="module")
def bundle(song_map: dict) -> bytes:
    return encode_bundle(song_map, track_id="track-42", latency_offset_ms=-35)


def test_round_trip_keeps_header_times_and_envelopes(song_map: dict, bundle: bytes) -> None:
    decoded = decode_bundle(bundle)
    rhythm = song_map["layers"]["rhythm"]
    assert (decoded.track_id, decoded.latency_offset_ms) == ("track-42", -35)
    assert (decoded.duration_ms, decoded.bpm, decoded.frame_rate_hz) == (240_000, 128.0, RATE_HZ)
    assert np.abs(decoded.beats_ms - np.array(rhythm["beat_grid_ms"])).max() <= 1.0
    assert np.abs(decoded.downbeats_ms - np.array(rhythm["downbeat_ms"])).max() <= 1.0
    for band in ("bass", "mids", "highs"):
        original = np.array(song_map["layers"]["frequency"][band]["values"])
        assert np.abs(decoded.envelopes[band] - original).max() <= 1 / 255
    intensity = np.array(song_map["layers"]["choreography"]["intensity"]["values"])
    assert np.abs(decoded.envelopes["intensity"] - intensity).max() <= 1 / 255
    assert [(s.start_ms, s.label) for s in decoded.sections][:3] == [
        (0, "intro"),
        (30_000, "verse"),
        (60_000, "build"),
    ]


def test_bundle_is_much_smaller_than_the_json_map(song_map: dict, bundle: bytes) -> None:
    assert len(bundle) * 4 < len(json.dumps(song_map).encode())


def test_a_flipped_byte_fails_the_crc(bundle: bytes) -> None:
    damaged = bytearray(bundle)
    damaged[len(bundle) // 2] ^= 0x10
    with pytest.raises(BundleError, match="CRC mismatch"):
        decode_bundle(bytes(damaged))


@pytest.mark.parametrize("keep", [0, 10, HEADER.size, -1])
def test_truncation_is_reported(bundle: bytes, keep: int) -> None:
    with pytest.raises(BundleError, match="truncated"):
        decode_bundle(bundle[:keep] if keep >= 0 else bundle[:-1])


def test_wrong_magic_and_version_are_refused(bundle: bytes) -> None:
    with pytest.raises(BundleError, match="not a K1 bundle"):
        decode_bundle(b"PK\x03\x04" + bundle[4:])
    newer = bundle[:4] + (FORMAT_VERSION + 1).to_bytes(2, "little") + bundle[6:]
    with pytest.raises(BundleError, match="unsupported bundle format version 2"):
        decode_bundle(newer)


def test_seed_example_with_point_envelopes_packs() -> None:
    decoded = decode_bundle(encode_bundle(SEED_EXAMPLE_MAP, track_id="seed"))
    assert list(decoded.beats_ms) == [468, 937, 1406]
    assert decoded.envelopes["bass"][0] == pytest.approx(0.5, abs=1 / 255)
    assert "intensity" not in decoded.envelopes and decoded.sections == []
