"""Band envelopes, dynamics and spectral features on synthetic signals, with tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from services.analyzer.domain.features import FLOOR_DB, box_resample, compute_features
from services.analyzer.domain.spectrum import compute_spectrogram

SR = 22050


def _features(x: np.ndarray, **kwargs):
    return compute_features(
        compute_spectrogram(x.astype(np.float32), sr=SR), duration_s=len(x) / SR, **kwargs
    )


def _tone(freq: float, amp: float = 1.0, seconds: float = 4.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)


@pytest.mark.parametrize("freq,band", [(80.0, "bass"), (1000.0, "mids"), (8000.0, "highs")])
def test_a_tone_lights_only_its_band(freq, band):
    f = _features(_tone(freq, 0.5))
    middle = slice(25, -25)
    for name in ("bass", "mids", "highs"):
        level = float(np.mean(getattr(f, name)[middle]))
        assert level == (
            pytest.approx(1.0, abs=0.02) if name == band else pytest.approx(0.0, abs=0.02)
        )


def test_band_envelope_follows_a_level_change():
    x = np.concatenate([_tone(100, 0.05, 2.0), _tone(100, 0.5, 2.0)])  # -20 dB then full band level
    f = _features(x)
    assert np.mean(f.bass[110:190]) == pytest.approx(1.0, abs=0.02)
    assert np.mean(f.bass[10:90]) == pytest.approx(1 - 20 / 30, abs=0.05)  # 30 dB envelope range


def test_loudness_is_dbfs_and_dynamic_range_spans_the_levels():
    x = np.concatenate([_tone(1000, 0.5, 3.0), _tone(1000, 0.05, 3.0)])
    f = _features(x)
    assert np.median(f.loudness_db[5:25]) == pytest.approx(-6.02, abs=0.1)
    assert np.median(f.loudness_db[35:55]) == pytest.approx(-26.02, abs=0.1)
    assert f.dynamic_range_db == pytest.approx(20.0, abs=0.5)
    assert f.loudness_db.max() <= 0.0


@pytest.mark.parametrize("freq", [300.0, 2000.0, 6000.0])
def test_centroid_and_rolloff_of_a_tone(freq):
    f = _features(_tone(freq, 0.3))
    assert np.median(f.centroid_hz) == pytest.approx(freq, rel=0.02)
    assert np.median(f.rolloff_hz) == pytest.approx(freq, abs=90.0)


def test_rolloff_of_white_noise_is_near_85_percent_of_nyquist():
    f = _features(np.random.default_rng(1).standard_normal(4 * SR) * 0.1)
    assert np.median(f.rolloff_hz) == pytest.approx(0.85 * SR / 2, rel=0.03)
    assert np.median(f.centroid_hz) == pytest.approx(SR / 4, rel=0.05)


def test_flux_and_onsets_mark_clicks():
    x = np.zeros(6 * SR)
    clicks = np.arange(0.5, 5.6, 0.5)
    rng = np.random.default_rng(2)
    for t in clicks:
        i = int(t * SR)
        x[i : i + 300] = rng.standard_normal(300) * np.exp(-np.arange(300) / 60)
    f = _features(x)
    assert len(f.onset_times_s) == len(clicks)
    np.testing.assert_allclose(f.onset_times_s, clicks, atol=0.03)
    assert f.flux.max() == pytest.approx(1.0) and f.flux.min() >= 0.0
    assert np.all((f.onset_strength > 0) & (f.onset_strength <= 1))


@pytest.mark.parametrize("frame_rate,series_rate", [(50.0, 10.0), (100.0, 25.0), (30.0, 5.0)])
def test_output_rates_are_configurable(frame_rate, series_rate):
    f = _features(_tone(440, 0.3, 3.0), frame_rate_hz=frame_rate, series_rate_hz=series_rate)
    assert len(f.bass) == int(np.ceil(3.0 * frame_rate)) and f.frame_rate_hz == frame_rate
    assert (
        len(f.loudness_db) == len(f.centroid_hz) == len(f.flux) == int(np.ceil(3.0 * series_rate))
    )


def test_silence_gives_zeros_not_amplified_noise():
    f = _features(np.zeros(3 * SR))
    assert not (f.bass.any() or f.mids.any() or f.highs.any() or f.flux.any())
    assert np.all(f.loudness_db == FLOOR_DB) and f.dynamic_range_db == 0.0
    assert len(f.onset_times_s) == 0 and not f.centroid_hz.any()


def test_box_resample_averages_around_each_output_time():
    x = np.repeat(np.arange(10.0), 10)  # 10 frames per step at 100 Hz
    y = box_resample(x, src_rate=100.0, dst_rate=10.0, n_out=10)
    # value i averages frame times [10 i - 5, 10 i + 5]: half of frame 45, frames 46..54, half of 55
    assert y[5] == pytest.approx((0.5 * 4 + 4 * 4 + 5 * 5 + 0.5 * 5) / 10, abs=1e-5)
    assert y[0] == pytest.approx(0.0) and y[9] == pytest.approx(8.55, abs=1e-5)
    np.testing.assert_allclose(
        box_resample(np.full(100, 3.0), src_rate=86.1, dst_rate=50.0, n_out=58), 3.0, rtol=1e-6
    )


def test_bad_parameters_are_refused():
    spec = compute_spectrogram(np.zeros(SR, np.float32), sr=SR)
    with pytest.raises(ValueError):
        compute_features(spec, duration_s=1.0, frame_rate_hz=0.0)
    with pytest.raises(ValueError):
        compute_features(spec, duration_s=1.0, rolloff_percent=1.5)
