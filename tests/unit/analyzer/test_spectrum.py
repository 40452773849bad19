"""The one STFT: shape, framing, amplitude and validation."""

from __future__ import annotations

import numpy as np
import pytest

from services.analyzer.domain.spectrum import compute_spectrogram

SR = 22050


def _reference_stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Naive centred STFT with a periodic Hann window, shape (n_bins, n_frames)."""
    padded = np.pad(x.astype(np.float64), n_fft // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = [padded[t * hop : t * hop + n_fft] * window for t in range(1 + len(x) // hop)]
    return np.abs(np.fft.rfft(np.array(frames), axis=1)).T


@pytest.mark.parametrize("n_fft,hop", [(1024, 256), (2048, 512), (512, 128)])
def test_matches_a_naive_centred_stft(n_fft, hop):
    x = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    spec = compute_spectrogram(x, sr=SR, n_fft=n_fft, hop_length=hop)
    assert spec.magnitude.shape == (1 + n_fft // 2, 1 + len(x) // hop)
    assert spec.magnitude.dtype == np.float32
    ref = _reference_stft(x, n_fft, hop)
    np.testing.assert_allclose(spec.magnitude, ref, rtol=1e-3, atol=1e-3 * ref.max())


def test_sine_lands_in_its_bin_with_hann_amplitude():
    freq = 43 * SR / 1024  # exactly bin 43
    x = np.sin(2 * np.pi * freq * np.arange(2 * SR) / SR).astype(np.float32)
    spec = compute_spectrogram(x, sr=SR)
    middle = spec.magnitude[:, spec.n_frames // 2]
    assert np.argmax(middle) == 43
    assert middle[43] == pytest.approx(1024 / 4, rel=1e-3)  # A * sum(hann) / 2
    assert spec.freqs_hz[43] == pytest.approx(freq, rel=1e-6)


def test_frames_are_centred():
    x = np.zeros(SR, np.float32)
    x[50 * 256] = 1.0  # an impulse at the centre of frame 50
    spec = compute_spectrogram(x, sr=SR)
    assert int(np.argmax(spec.magnitude.sum(axis=0))) == 50
    assert spec.frame_times_s()[50] == pytest.approx(50 * 256 / SR)


def test_silence_gives_zeros_and_float64_input_is_accepted():
    spec = compute_spectrogram(np.zeros(SR, dtype=np.float64), sr=SR)
    assert spec.magnitude.dtype == np.float32 and not spec.magnitude.any()


@pytest.mark.parametrize("kwargs", [{"n_fft": 1023}, {"hop_length": 0}, {"sr": 0}])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        compute_spectrogram(np.zeros(SR, np.float32), **{"sr": SR, **kwargs})


def test_stereo_input_is_refused():
    with pytest.raises(ValueError, match="mono"):
        compute_spectrogram(np.zeros((SR, 2), np.float32), sr=SR)
