"""Sections and drops on a synthetic EDM-shaped track with a hand-made rhythm."""

from __future__ import annotations

import numpy as np
import pytest

from services.analyzer.domain.features import compute_features
from services.analyzer.domain.sections import detect_sections
from services.analyzer.domain.spectrum import compute_spectrogram
from services.analyzer.domain.types import Rhythm

SR = 22050
BPM = 120.0
PLAN = [
    ("intro", 8, 0.1),
    ("drop", 12, 0.9),
    ("breakdown", 8, 0.08),
    ("drop", 12, 0.9),
    ("outro", 6, 0.12),
]
"""(label, bars of 4/4 at 120 BPM = 2 s each, level)"""


def _song(plan=PLAN) -> tuple[np.ndarray, np.ndarray, list[float]]:
    rng = np.random.default_rng(3)
    spb = 60.0 / BPM
    total_s = sum(bars for _, bars, _ in plan) * 4 * spb
    x = np.zeros(int(total_s * SR))
    t = np.arange(int(0.2 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 40)) * t) * np.exp(-t * 15)
    beats, starts, pos = [], [], 0.0
    for _, bars, level in plan:
        starts.append(pos)
        a, b = int(pos * SR), int((pos + bars * 4 * spb) * SR)
        x[a:b] += level * 0.3 * rng.standard_normal(b - a) * (level > 0.5)  # drops: noisy, bright
        x[a:b] += 0.2 * np.sin(2 * np.pi * 220 * np.arange(b - a) / SR)
        for k in range(bars * 4):
            i = int((pos + k * spb) * SR)
            x[i : i + len(kick)] += level * kick
            beats.append(pos + k * spb)
        pos += bars * 4 * spb
    return x.astype(np.float32) / np.abs(x).max(), np.array(beats), starts


def _rhythm(beats: np.ndarray) -> Rhythm:
    n = len(beats)
    return Rhythm(beats, np.ones(n), np.full(n, BPM), BPM, beats[::4], 4, 0.9)


def _detect(x, rhythm, **kwargs):
    duration = len(x) / SR
    features = compute_features(compute_spectrogram(x, sr=SR), duration_s=duration)
    return detect_sections(features, rhythm, duration_s=duration, **kwargs), duration


def test_sections_find_the_structure_and_label_it():
    x, beats, starts = _song()
    (sections, drops), duration = _detect(x, _rhythm(beats))
    assert [s.label for s in sections] == [label for label, _, _ in PLAN]
    np.testing.assert_allclose([s.start_s for s in sections], starts, atol=2.0)
    assert sections[0].start_s == 0.0 and sections[-1].end_s == pytest.approx(duration)
    assert all(a.end_s == b.start_s for a, b in zip(sections, sections[1:], strict=False))
    assert all(0.0 <= s.energy <= 1.0 for s in sections)
    assert min(s.energy for s in sections if s.label == "drop") > max(
        s.energy for s in sections if s.label != "drop"
    )
    np.testing.assert_allclose(drops, [starts[1], starts[3]], atol=2.0)


def test_boundaries_snap_to_downbeats():
    x, beats, _ = _song()
    rhythm = _rhythm(beats)
    (sections, drops), _ = _detect(x, rhythm)
    downbeats = set(np.round(rhythm.downbeat_times_s, 6))
    assert all(round(s.start_s, 6) in downbeats for s in sections[1:])
    assert all(round(t, 6) in downbeats for t in drops)


def test_without_a_beat_grid_boundaries_stay_near_the_changes():
    x, _, starts = _song()
    empty = np.zeros(0)
    (sections, _), _ = _detect(x, Rhythm(empty, empty, empty, 0.0, empty, 0, 0.0))
    np.testing.assert_allclose([s.start_s for s in sections], starts, atol=2.5)


def test_a_build_before_a_drop():
    plan = [("intro", 8, 0.1), ("verse", 8, 0.35), ("drop", 12, 0.9), ("outro", 6, 0.1)]
    x, beats, _ = _song(plan)
    a, b = int(32 * SR), int(48 * SR)  # make the verse rise steadily into the drop
    x[a:b] *= np.linspace(0.3, 1.0, b - a, dtype=np.float32)
    (sections, _), _ = _detect(x, _rhythm(beats))
    labels = [s.label for s in sections]
    assert labels[labels.index("drop") - 1] == "build"


def test_a_steady_track_is_one_section_without_drops():
    t = np.arange(40 * SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    (sections, drops), _ = _detect(x, _rhythm(np.arange(0, 40, 0.5)))
    assert len(sections) == 1 and len(drops) == 0


def test_silence_has_no_sections():
    (sections, drops), _ = _detect(np.zeros(20 * SR, np.float32), _rhythm(np.zeros(0)))
    assert sections == [] and len(drops) == 0


def test_minimum_section_length_is_respected():
    x, beats, _ = _song()
    (sections, _), _ = _detect(x, _rhythm(beats), min_section_s=20.0)
    assert all(s.end_s - s.start_s >= 10.0 for s in sections)
    assert len(sections) < len(PLAN)
