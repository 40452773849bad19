"""Genesis Map v4 from an analysis.

Schema, hashes, metrics, presets, the artefact round trip and silence.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from contracts.canonical import compute_map_sha256
from contracts.genesis_map import BAR_TRUSTED, GenesisMapV4
from services.analyzer.domain.analysis import Analysis
from services.analyzer.domain.features import compute_features
from services.analyzer.domain.genesis import (
    build_map,
    downbeat_accent,
    self_consistency,
    time_signature,
)
from services.analyzer.domain.presets import PRESETS, get_preset
from services.analyzer.domain.sections import detect_sections
from services.analyzer.domain.spectrum import compute_spectrogram
from services.analyzer.domain.types import Rhythm

SR = 22050
SHA = "ab" * 32
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _clicks(seconds: float = 30.0, period: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros(int(seconds * SR), np.float32)
    times = np.arange(0.25, seconds - 0.3, period)
    burst = np.random.default_rng(4).standard_normal(400) * np.exp(-np.arange(400) / 80)
    for k, t in enumerate(times):
        i = int(t * SR)
        x[i : i + 400] += (1.0 if k % 4 == 0 else 0.6) * burst
    return x * 0.5, times


def _analysis(x: np.ndarray, beats: np.ndarray, *, warnings: tuple[str, ...] = ()) -> Analysis:
    n = len(beats)
    bpm = 60.0 / float(np.median(np.diff(beats))) if n > 1 else 0.0
    rhythm = Rhythm(
        beats, np.linspace(0.2, 1.0, n), np.full(n, bpm), bpm, beats[::4], 4 if n else 0, 0.9
    )
    duration = len(x) / SR
    features = compute_features(compute_spectrogram(x, sr=SR), duration_s=duration)
    sections, drops = detect_sections(features, rhythm, duration_s=duration)
    return Analysis(
        duration,
        rhythm,
        features,
        tuple(sections),
        drops,
        source={"source_sr": SR, "source_channels": 1, "source_format": "WAV"},
        config={"sr": SR},
        warnings=warnings,
    )


@pytest.fixture(scope="module")
def clicks():
    x, times = _clicks()
    return _analysis(x, times), times


def test_map_validates_and_is_sealed(clicks):
    analysis, times = clicks
    m = build_map(analysis, filename="dir/song.wav", audio_sha256=SHA, timestamp_utc=WHEN)
    GenesisMapV4.model_validate(m)
    assert m["metadata"]["hashes"] == {"audio_sha256": SHA, "map_sha256": compute_map_sha256(m)}
    assert m["metadata"]["filename"] == "song.wav"
    assert m["global_metrics"]["quality"] == "ok" and m["global_metrics"]["bpm"] == pytest.approx(
        120.0
    )
    assert m["global_metrics"]["duration_ms"] == pytest.approx(30000.0)
    assert m["layers"]["rhythm"]["beat_grid_ms"] == pytest.approx(list(times * 1000), abs=0.05)
    assert m["layers"]["rhythm"]["beats_per_bar"] == 4
    assert m["layers"]["rhythm"]["time_signature"] == "4/4"


@pytest.mark.parametrize(
    ("beats_per_bar", "division", "written"),
    [
        (2, 2, "2/4"),
        (3, 2, "3/4"),
        (4, 2, "4/4"),
        (2, 3, "6/8"),
        (3, 3, "9/8"),
        (4, 3, "12/8"),
        (0, 2, None),
        (5, 2, None),
    ],
)
def test_time_signature_is_written_as_musicians_write_it(beats_per_bar, division, written):
    assert time_signature(beats_per_bar, division) == written


def test_envelopes_are_compact_and_rounded(clicks):
    m = build_map(clicks[0], filename="s.wav", audio_sha256=SHA)
    bass = m["layers"]["frequency"]["bass"]
    assert bass["frame_rate_hz"] == 50.0 and len(bass["values"]) == 1500
    assert all(v == round(v, 3) and 0 <= v <= 1 for v in bass["values"])
    assert m["layers"]["dynamics"]["loudness_db"]["frame_rate_hz"] == 10.0
    assert len(m["layers"]["spectral"]["flux"]["values"]) == 300


def test_reference_beats_are_scored_with_mir_eval(clicks):
    analysis, times = clicks
    exact = build_map(analysis, filename="s.wav", audio_sha256=SHA, reference_beats_s=times)
    assert exact["global_metrics"]["f_measure"] == 1.0 and exact["global_metrics"][
        "cemgil"
    ] == pytest.approx(1.0)
    assert exact["metadata"]["analysis_config"]["metrics_source"] == "reference"
    off = build_map(analysis, filename="s.wav", audio_sha256=SHA, reference_beats_s=times + 0.25)
    assert off["global_metrics"]["f_measure"] == 0.0 and off["global_metrics"]["cemgil"] < 0.01


def test_self_consistency_rewards_beats_on_onsets(clicks):
    analysis, times = clicks
    m = build_map(analysis, filename="s.wav", audio_sha256=SHA)
    assert m["metadata"]["analysis_config"]["metrics_source"] == "self_consistency"
    assert m["global_metrics"]["f_measure"] > 0.95 and m["global_metrics"]["cemgil"] > 0.7
    onsets, strength = analysis.features.onset_times_s, analysis.features.onset_strength
    f_off, c_off = self_consistency(times + 0.25, onsets, strength)
    assert f_off < 0.1 and c_off < 0.01
    assert self_consistency(np.zeros(0), onsets, strength) == (0.0, 0.0)


def test_presets_shape_the_choreography_not_the_detection(clicks):
    maps = {
        p: build_map(clicks[0], preset=p, filename="s.wav", audio_sha256=SHA, timestamp_utc=WHEN)
        for p in PRESETS
    }
    assert {"edm_high_energy", "chill", "rock", "hiphop"} <= set(maps)
    layers = [m["layers"] for m in maps.values()]
    assert all(
        lay["rhythm"] == layers[0]["rhythm"] and lay["frequency"] == layers[0]["frequency"]
        for lay in layers
    )
    edm, chill = (
        maps["edm_high_energy"]["layers"]["choreography"],
        maps["chill"]["layers"]["choreography"],
    )
    assert edm["preset"] == "edm_high_energy" and edm["palette"] != chill["palette"]
    assert len(edm["accents"]) > len(chill["accents"])  # chill accents bars only
    assert np.std(edm["intensity"]["values"]) > np.std(chill["intensity"]["values"])  # slow release
    assert {a["kind"] for a in edm["accents"]} >= {"beat", "downbeat"}
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("disco")


def test_artefact_round_trip_gives_the_same_map(clicks):
    analysis = clicks[0]
    document = json.loads(json.dumps(analysis.to_artifact()))
    again = Analysis.from_artifact(document)
    a = build_map(analysis, filename="s.wav", audio_sha256=SHA, timestamp_utc=WHEN)
    b = build_map(again, filename="s.wav", audio_sha256=SHA, timestamp_utc=WHEN)
    assert a == b
    with pytest.raises(ValueError):
        Analysis.from_artifact({"kind": "something else"})


def test_silence_gives_a_valid_warning_map_without_a_fake_grid():
    empty = np.zeros(0)
    analysis = _analysis(np.zeros(5 * SR, np.float32), empty, warnings=("silent: no sound",))
    m = build_map(analysis, filename="quiet.wav", audio_sha256=SHA)
    GenesisMapV4.model_validate(m)
    g = m["global_metrics"]
    assert g["quality"] == "warning" and g["warnings"] == ["silent: no sound"]
    assert g["bpm"] == 0.0 and g["f_measure"] == 0.0 and m["layers"]["rhythm"]["beat_grid_ms"] == []
    assert not any(m["layers"]["choreography"]["intensity"]["values"])
    assert m["layers"]["annotations"]["sections"] == []


def test_bar_lines_a_guess_are_accented_no_louder_than_beats(clicks):
    """Bars the engine is unsure of must not flash the wrong beat of every bar at full power."""
    analysis = clicks[0]

    def accents(bar_confidence: float) -> dict[str, float]:
        rhythm = replace(analysis.rhythm, bar_confidence=bar_confidence)
        m = build_map(
            replace(analysis, rhythm=rhythm),
            preset="rock",
            filename="s.wav",
            audio_sha256=SHA,
            timestamp_utc=WHEN,
        )
        assert m["metadata"]["analysis_config"]["bar_confidence"] == bar_confidence
        out: dict[str, list[float]] = {}
        for a in m["layers"]["choreography"]["accents"]:
            out.setdefault(a["kind"], []).append(a["strength"])
        return {kind: float(np.mean(v)) for kind, v in out.items()}

    sure, unsure = accents(0.9), accents(0.1)
    assert sure["downbeat"] > 1.2 * sure["beat"]
    assert unsure["downbeat"] < sure["downbeat"]
    rock = get_preset("rock")
    assert downbeat_accent(rock, 0.0) == rock.beat_accent
    assert downbeat_accent(rock, BAR_TRUSTED) == downbeat_accent(rock, 1.0) == rock.downbeat_accent


def test_bar_confidence_survives_the_artefact_round_trip(clicks):
    analysis = clicks[0]
    unsure = replace(analysis, rhythm=replace(analysis.rhythm, bar_confidence=0.2))
    again = Analysis.from_artifact(json.loads(json.dumps(unsure.to_artifact())))
    assert again.rhythm.bar_confidence == 0.2
    document = unsure.to_artifact()
    del document["rhythm"]["bar_confidence"]  # written before bar confidence existed
    assert Analysis.from_artifact(document).rhythm.bar_confidence == 1.0
