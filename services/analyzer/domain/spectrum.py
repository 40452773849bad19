"""The one short-time Fourier transform of a track: every feature and the beat tracker read it."""

from __future__ import annotations

import numpy as np
import scipy.fft

from .types import HOP_LENGTH, N_FFT, Spectrogram

_CHUNK_FRAMES = 512
"""Frames transformed per call: keeps the windowed copy in cache (≈ 2 MB at n_fft=1024)."""


def compute_spectrogram(
    samples: np.ndarray, *, sr: int, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
) -> Spectrogram:
    """Magnitude STFT with centred frames and a periodic Hann window.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono audio, float32 (other float types are converted).
    sr : int > 0
        Sample rate of ``samples``, Hz.
    n_fft : int > 0, even
        Frame length, samples.
    hop_length : int > 0
        Hop between frames, samples.

    Returns
    -------
    Spectrogram
        ``magnitude`` of shape ``(1 + n_fft // 2, 1 + n // hop_length)``, float32. Frame ``t`` is
        centred at ``t * hop_length`` samples (zero padding of ``n_fft // 2`` at both ends, as
        ``librosa.stft(center=True, pad_mode="constant")``). The array is a transposed view of a
        C-contiguous ``(n_frames, n_bins)`` buffer, so per-frame reductions read contiguous memory.
    """
    samples = _validate(samples, sr=sr, n_fft=n_fft, hop_length=hop_length)
    pad = n_fft // 2
    padded = np.pad(samples, (pad, pad))
    n_frames = 1 + samples.shape[0] // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    window = _hann(n_fft)
    out = np.empty((n_frames, n_fft // 2 + 1), dtype=np.float32)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        stop = min(start + _CHUNK_FRAMES, n_frames)
        spectrum = scipy.fft.rfft(frames[start:stop] * window, axis=1, workers=1)
        np.abs(spectrum, out=out[start:stop])
    return Spectrogram(magnitude=out.T, sr=sr, n_fft=n_fft, hop_length=hop_length)


def _validate(samples: np.ndarray, *, sr: int, n_fft: int, hop_length: int) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"samples must be mono, shape (n,); got shape {samples.shape}")
    if sr <= 0 or hop_length <= 0 or n_fft <= 0 or n_fft % 2:
        raise ValueError(
            f"need sr, hop_length > 0 and n_fft even > 0; got {sr}, {hop_length}, {n_fft}"
        )
    if samples.dtype != np.float32:
        samples = samples.astype(np.float32)
    return samples


def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (as ``scipy.signal.get_window('hann', n_fft)``), float32."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def window_power_gain(n_fft: int) -> float:
    """``n_fft * sum(w**2)``: divides one-sided power summed over bins (×2) into mean-square signal.

    By Parseval, for a frame ``x`` windowed by ``w``: ``sum_k |X_k|**2 = n_fft * sum((x*w)**2)``
    over all ``n_fft`` bins; a one-sided spectrum holds about half of that.
    """
    w = _hann(n_fft).astype(np.float64)
    return float(n_fft * np.sum(w * w))
