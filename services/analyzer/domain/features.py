"""Frequency, dynamics and spectral features, all read from the one spectrogram in a single pass.

Levels are in dBFS with the AES17 convention: a full-scale sine reads 0 dB. Band envelopes are
normalised 0..1 over a ``env_range_db`` window below each band's loud (99th-percentile) level.
Curves are resampled from the STFT frame rate by a centred box average, so value ``i`` describes
the time ``i / rate`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spectrum import window_power_gain
from .types import Spectrogram

BAND_EDGES_HZ = (250.0, 4000.0)
"""bass < 250 Hz ≤ mids < 4 kHz ≤ highs"""
FLOOR_DB = -100.0
SILENCE_DB = -70.0
"""Absolute gate: a band or frame quieter than this (dBFS) counts as silent."""
BAND_HEADROOM_DB = 20.0
N_MEL = 24
_CUM_STEP = 8
_CHUNK = 2048


@dataclass(frozen=True, slots=True)
class Features:
    """Band envelopes at ``frame_rate_hz``; dynamics and spectral curves at ``series_rate_hz``."""

    frame_rate_hz: float
    bass: np.ndarray
    """shape (n_env,), float32, 0..1 (likewise ``mids`` and ``highs``)"""
    mids: np.ndarray
    highs: np.ndarray
    series_rate_hz: float
    loudness_db: np.ndarray
    """shape (n_series,), dBFS, in [FLOOR_DB, 0]"""
    dynamic_range_db: float
    """95th minus 10th percentile of the gated loudness curve, dB (0 for silence)"""
    centroid_hz: np.ndarray
    flux: np.ndarray
    """shape (n_series,), 0..1: positive change of the log mel spectrum"""
    rolloff_hz: np.ndarray
    """shape (n_series,), frequency below which 85 % of the energy lies"""
    onset_times_s: np.ndarray
    """shape (n_onsets,): peaks of the full-rate flux, seconds"""
    onset_strength: np.ndarray
    """shape (n_onsets,), 0..1"""
    timbre_db: np.ndarray
    """shape (n_series, N_MEL): log mel band levels, dBFS (for section novelty; not serialised)"""


def compute_features(
    spec: Spectrogram,
    *,
    duration_s: float,
    frame_rate_hz: float = 50.0,
    series_rate_hz: float = 10.0,
    env_range_db: float = 30.0,
    rolloff_percent: float = 0.85,
) -> Features:
    """Band envelopes, loudness, dynamic range, centroid, flux, roll-off and onsets.

    Parameters
    ----------
    spec : Spectrogram
        The track's magnitude spectrogram, shape (n_bins, n_frames).
    duration_s : float > 0
        Duration of the audio, seconds; fixes the number of output values.
    frame_rate_hz, series_rate_hz : float > 0
        Output rates of the band envelopes and of the dynamics/spectral curves, Hz.
    env_range_db : float > 0
        Level range mapped onto 0..1 in each band envelope, dB.
    rolloff_percent : float in (0, 1)
        Energy fraction of the roll-off frequency.
    """
    if duration_s <= 0 or frame_rate_hz <= 0 or series_rate_hz <= 0 or env_range_db <= 0:
        raise ValueError("duration_s, frame_rate_hz, series_rate_hz and env_range_db must be > 0")
    if not 0.0 < rolloff_percent < 1.0:
        raise ValueError(f"rolloff_percent must be in (0, 1), got {rolloff_percent}")
    stats = _frame_stats(spec, rolloff_percent=rolloff_percent)
    src = spec.frame_rate_hz
    n_env = _n_values(duration_s, frame_rate_hz)
    n_ser = _n_values(duration_s, series_rate_hz)
    band_ms = box_resample(stats["band_ms"], src_rate=src, dst_rate=frame_rate_hz, n_out=n_env)
    total_db = _to_db(band_ms.sum(axis=1))
    bands = _normalise_db(_to_db(band_ms), range_db=env_range_db, total_db=total_db)
    loud = _to_db(
        box_resample(stats["total_ms"], src_rate=src, dst_rate=series_rate_hz, n_out=n_ser)
    )
    flux_full = _log_flux(stats["mel_db"])
    onset_t, onset_s = _onset_peaks(flux_full, frame_rate_hz=src)
    series = box_resample(
        np.column_stack([stats["centroid"], flux_full, stats["rolloff"]]),
        src_rate=src,
        dst_rate=series_rate_hz,
        n_out=n_ser,
    )
    timbre = _to_db(
        box_resample(stats["mel_ms"], src_rate=src, dst_rate=series_rate_hz, n_out=n_ser)
    )
    return Features(
        frame_rate_hz=float(frame_rate_hz),
        bass=bands[:, 0],
        mids=bands[:, 1],
        highs=bands[:, 2],
        series_rate_hz=float(series_rate_hz),
        loudness_db=np.minimum(loud, 0.0),
        dynamic_range_db=_dynamic_range(loud),
        centroid_hz=series[:, 0],
        flux=_unit_scale(series[:, 1]),
        rolloff_hz=series[:, 2],
        onset_times_s=onset_t,
        onset_strength=onset_s,
        timbre_db=timbre,
    )


def _n_values(duration_s: float, rate_hz: float) -> int:
    return max(1, int(np.ceil(duration_s * rate_hz - 1e-9)))


def _frame_stats(spec: Spectrogram, *, rolloff_percent: float) -> dict[str, np.ndarray]:
    """Per-STFT-frame sums in one pass.

    Power goes through one (n_bins, k) matrix, magnitude through two.
    """
    mag = spec.magnitude.T  # (n_frames, n_bins), C-contiguous when made by compute_spectrogram
    freqs = spec.freqs_hz
    w_pow, n_mel = _power_weights(freqs, sr=spec.sr)
    w_mag = np.column_stack([freqs, np.ones_like(freqs)]).astype(np.float32)
    to_ms = np.float32(2.0 / window_power_gain(spec.n_fft))  # one-sided power → mean square
    pw = np.empty((mag.shape[0], w_pow.shape[1]), dtype=np.float32)
    mw = np.empty((mag.shape[0], 2), dtype=np.float32)
    for start in range(0, mag.shape[0], _CHUNK):
        chunk = mag[start : start + _CHUNK]
        np.matmul(chunk * chunk, w_pow, out=pw[start : start + _CHUNK])
        np.matmul(chunk, w_mag, out=mw[start : start + _CHUNK])
    pw *= to_ms
    mel_ms = pw[:, 3 : 3 + n_mel]
    cum = pw[:, 3 + n_mel :]
    return {
        "band_ms": pw[:, :3],
        "total_ms": cum[:, -1],
        "mel_ms": mel_ms,
        "mel_db": _to_db(mel_ms),
        "centroid": np.where(mw[:, 1] > 1e-6, mw[:, 0] / np.maximum(mw[:, 1], 1e-6), 0.0),
        "rolloff": _rolloff(cum, freqs, rolloff_percent),
    }


def _power_weights(freqs: np.ndarray, *, sr: int) -> tuple[np.ndarray, int]:
    """Columns: bass, mids, highs masks | N_MEL triangular mel bands | cumulative bin sums."""
    lo, hi = BAND_EDGES_HZ
    bands = np.column_stack([freqs < lo, (freqs >= lo) & (freqs < hi), freqs >= hi])
    mel = _mel_filters(freqs, n_mel=N_MEL, fmax=sr / 2)
    upper = np.append(np.arange(_CUM_STEP - 1, freqs.shape[0] - 1, _CUM_STEP), freqs.shape[0] - 1)
    cum = np.arange(freqs.shape[0])[:, None] <= upper[None, :]
    return np.column_stack([bands, mel, cum]).astype(np.float32), N_MEL


def _mel_filters(freqs: np.ndarray, *, n_mel: int, fmax: float) -> np.ndarray:
    """Triangular filters equally spaced on the HTK mel scale, peak 1; shape (n_bins, n_mel)."""
    mel = 2595.0 * np.log10(1.0 + np.asarray(freqs, dtype=np.float64) / 700.0)
    edges = np.linspace(0.0, 2595.0 * np.log10(1.0 + fmax / 700.0), n_mel + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rise = (mel[:, None] - lower) / (centre - lower)
    fall = (upper - mel[:, None]) / (upper - centre)
    return np.clip(np.minimum(rise, fall), 0.0, None)


def _rolloff(cum: np.ndarray, freqs: np.ndarray, percent: float) -> np.ndarray:
    """Interpolated frequency where cumulative power reaches ``percent`` of the total, Hz."""
    target = cum[:, -1:] * np.float32(percent)
    j = np.argmax(cum >= target, axis=1)
    upper_f = freqs[
        np.append(np.arange(_CUM_STEP - 1, freqs.shape[0] - 1, _CUM_STEP), freqs.shape[0] - 1)
    ]
    lower_f = np.concatenate([[0.0], upper_f[:-1]])
    rows = np.arange(cum.shape[0])
    below = np.where(j > 0, cum[rows, np.maximum(j - 1, 0)], 0.0)
    frac = (target[:, 0] - below) / np.maximum(cum[rows, j] - below, 1e-20)
    out = lower_f[j] + np.clip(frac, 0.0, 1.0) * (upper_f[j] - lower_f[j])
    return np.where(cum[:, -1] > 1e-12, out, 0.0)


def _to_db(mean_square: np.ndarray) -> np.ndarray:
    """Mean square → dBFS (full-scale sine = 0 dB), floored at ``FLOOR_DB``; float32."""
    return np.maximum(10.0 * np.log10(np.maximum(2.0 * mean_square, 1e-12)), FLOOR_DB).astype(
        np.float32
    )


def _normalise_db(level_db: np.ndarray, *, range_db: float, total_db: np.ndarray) -> np.ndarray:
    """Per column: map [ref − range, ref] onto 0..1, ref = the band's loud level but at least
    ``BAND_HEADROOM_DB`` below the whole signal's, so a band holding only leakage stays dark."""
    loud = np.percentile(level_db, 99, axis=0)
    ref = np.maximum(loud, float(np.percentile(total_db, 99)) - BAND_HEADROOM_DB)
    out = (level_db - (ref - range_db)) / range_db
    out[:, ref < SILENCE_DB] = 0.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _log_flux(mel_db: np.ndarray) -> np.ndarray:
    """Mean positive rise of the mel levels per frame, dB; levels floored 80 dB below the peak."""
    floor = max(float(mel_db.max()) - 80.0, SILENCE_DB)
    levels = np.maximum(mel_db, floor)
    rise = np.maximum(np.diff(levels, axis=0, prepend=levels[:1]), 0.0)
    return rise.mean(axis=1)


def _unit_scale(x: np.ndarray) -> np.ndarray:
    """Scale by the 99th percentile and clip to 0..1 (all zeros stays all zeros)."""
    ref = float(np.percentile(x, 99)) if x.size else 0.0
    return (
        np.zeros_like(x, dtype=np.float32)
        if ref <= 1e-9
        else np.clip(x / ref, 0, 1).astype(np.float32)
    )


def _onset_peaks(flux: np.ndarray, *, frame_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima (±30 ms) of the flux above its local mean (±100 ms) plus a margin."""
    strength = _unit_scale(flux)
    if not strength.any():
        return np.zeros(0), np.zeros(0, dtype=np.float32)
    w_max, w_avg = max(1, round(0.03 * frame_rate_hz)), max(1, round(0.1 * frame_rate_hz))
    local_max = _sliding(strength, w_max, np.max)
    local_avg = _sliding(strength, w_avg, np.mean)
    peaks = np.flatnonzero(
        (strength == local_max) & (strength > local_avg + 0.07) & (strength > 0.1)
    )
    return peaks / frame_rate_hz, strength[peaks]


def _sliding(x: np.ndarray, half: int, reduce) -> np.ndarray:
    padded = np.pad(x, half, mode="edge")
    return reduce(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)


def _dynamic_range(loudness_db: np.ndarray) -> float:
    gated = loudness_db[loudness_db > SILENCE_DB]
    if gated.size < 3:
        return 0.0
    return float(np.percentile(gated, 95) - np.percentile(gated, 10))


def box_resample(x: np.ndarray, *, src_rate: float, dst_rate: float, n_out: int) -> np.ndarray:
    """Resample a frame-rate curve by a centred box average; shape (n_out,) + x.shape[1:].

    Source frame ``t`` covers ``[t - 0.5, t + 0.5)`` frames; output ``i`` averages the source over
    ``i * src_rate / dst_rate ± src_rate / (2 * dst_rate)`` frames (clipped to the signal).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    integral = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    centre = np.arange(n_out) * (src_rate / dst_rate)
    half = 0.5 * max(src_rate / dst_rate, 1.0)
    lo = np.clip(centre - half + 0.5, 0.0, n)
    hi = np.clip(centre + half + 0.5, 0.0, n)
    width = np.maximum(hi - lo, 1e-9).reshape((-1,) + (1,) * (x.ndim - 1))
    return ((_interp_rows(integral, hi) - _interp_rows(integral, lo)) / width).astype(np.float32)


def _interp_rows(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``table`` rows at fractional positions ``pos``."""
    i = np.minimum(pos.astype(np.int64), table.shape[0] - 2)
    frac = (pos - i).reshape((-1,) + (1,) * (table.ndim - 1))
    return table[i] * (1.0 - frac) + table[i + 1] * frac
