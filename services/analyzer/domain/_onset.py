"""Onset-strength kernels: a mel-like band filterbank, log compression and spectral flux."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

LOG_GAIN = 1000.0
"""log1p(gain * x) on peak-normalised band magnitudes: ~60 dB of useful range"""
LOW_BAND_HZ = 200.0
"""bands below this centre frequency form the low (kick / bass) onset envelope"""


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def band_filterbank(
    sr: int, n_fft: int, n_bands: int, fmin_hz: float, fmax_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Triangular mel-spaced filters.

    Returns
    -------
    weights : np.ndarray, shape (n_bands, 1 + n_fft // 2), float32
    centres_hz : np.ndarray, shape (n_bands,)
    """
    freqs = np.linspace(0.0, sr / 2, 1 + n_fft // 2)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(fmin_hz)), _hz_to_mel(np.array(fmax_hz)), n_bands + 2)
    )
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    # widen the narrow low bands to at least one FFT bin so none is empty
    half = np.maximum(mid - lo, sr / n_fft)
    up = (freqs[None, :] - (mid - half)) / half
    down = (hi - freqs[None, :]) / np.maximum(hi - mid, sr / n_fft)
    weights = np.clip(np.minimum(up, down), 0.0, None)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    return weights.astype(np.float32), edges[1:-1]


def log_bands(magnitude: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Log-compressed band magnitudes, shape (n_bands, n_frames); 0 for digital silence."""
    bands = weights @ magnitude
    peak = float(bands.max()) if bands.size else 0.0
    if peak <= 0.0:
        return np.zeros_like(bands)
    return np.log1p(bands * (LOG_GAIN / peak))


def band_flux(logb: np.ndarray, *, lag: int = 1, max_size: int = 3) -> np.ndarray:
    """Half-wave rectified flux per band, shape (n_bands, n_frames).

    The reference frame is max-filtered across neighbouring bands (SuperFlux), which
    suppresses vibrato and slow pitch glides that are not onsets.
    """
    ref = maximum_filter1d(logb, size=max_size, axis=0)
    flux = np.zeros_like(logb)
    flux[:, lag:] = np.maximum(logb[:, lag:] - ref[:, :-lag], 0.0)
    return flux


def detrend(env: np.ndarray, *, width: int) -> np.ndarray:
    """Remove the slowly varying level (a moving mean ``width`` frames wide) and rectify."""
    if env.size == 0:
        return env
    return np.maximum(env - uniform_filter1d(env, size=max(1, width), mode="nearest"), 0.0)
