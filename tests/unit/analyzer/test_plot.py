"""The analysis picture: a PNG of the expected size for music and for silence."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from services.analyzer.domain.analysis import Analysis
from services.analyzer.domain.features import compute_features
from services.analyzer.domain.plot import render_png
from services.analyzer.domain.sections import Section
from services.analyzer.domain.spectrum import compute_spectrogram
from services.analyzer.domain.types import Rhythm

SR = 22050


def _analysis(x: np.ndarray, beats: np.ndarray, sections=(), drops=()) -> Analysis:
    n = len(beats)
    rhythm = Rhythm(
        beats, np.ones(n), np.full(n, 120.0), 120.0 if n else 0.0, beats[::4], 4 if n else 0, 0.9
    )
    features = compute_features(compute_spectrogram(x, sr=SR), duration_s=len(x) / SR)
    return Analysis(len(x) / SR, rhythm, features, tuple(sections), np.asarray(drops, dtype=float))


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_picture_of_a_track_with_sections_and_drops():
    t = np.arange(20 * SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 80 * t) * (t > 8) + 0.05 * np.sin(2 * np.pi * 3000 * t)).astype(
        np.float32
    )
    sections = [Section(0.0, 8.0, "intro", 0.2), Section(8.0, 20.0, "drop", 0.9)]
    png = render_png(_analysis(x, np.arange(0.0, 20.0, 0.5), sections, [8.0]), title="song.wav")
    assert _png_size(png) == (1600, 600)
    assert len(png) > 20_000  # a real drawing, not an empty canvas


def test_picture_of_silence_and_custom_size():
    png = render_png(_analysis(np.zeros(5 * SR, np.float32), np.zeros(0)), width_in=8, dpi=50)
    assert _png_size(png) == (400, 150)


def test_bad_size_is_refused():
    with pytest.raises(ValueError):
        render_png(_analysis(np.zeros(3 * SR, np.float32), np.zeros(0)), width_in=0)
