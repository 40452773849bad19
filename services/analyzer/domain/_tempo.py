"""Tempo kernels: a local autocorrelation tempogram and a Viterbi path through it.

The tempo path may drift slowly (ramps) and may jump at a fixed cost (sudden changes); the
result is a beat period for every frame, which guides the beat tracker.
"""

from __future__ import annotations

import numpy as np

from services.analyzer.domain._beats import parabola_vertex

HARMONIC_WEIGHTS = {1.0: 1.0, 2.0: 0.5, 3.0: 0.33, 4.0: 0.25, 0.5: 0.5, 0.25: 0.25}
"""weights of the autocorrelation at multiples of the candidate period: the bar-level
multiples (2x-4x) and the subdivisions (1/2, 1/4) a beat is usually filled with; a candidate
off the metrical grid (e.g. a dotted eighth in a funk groove) finds no subdivisions"""


def bpm_grid(*, min_bpm: float, max_bpm: float, per_octave: int = 36) -> np.ndarray:
    """Log-spaced tempo candidates, shape (n_tempi,), beats per minute."""
    n = int(np.ceil(np.log2(max_bpm / min_bpm) * per_octave)) + 1
    return min_bpm * 2.0 ** (np.arange(n) / per_octave)


def local_autocorrelation(env: np.ndarray, *, win: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised autocorrelation of Hann-windowed excerpts of ``env``.

    Returns
    -------
    acf : np.ndarray, shape (n_windows, win); ``acf[:, 0]`` is 1 wherever the excerpt is
        not constant, 0 elsewhere
    centres : np.ndarray, shape (n_windows,), frame index of each window centre
    """
    centres = np.arange(0, max(env.size, 1), hop)
    padded = np.pad(env, (win // 2, win))
    idx = centres[:, None] + np.arange(win)[None, :]
    frames = padded[idx]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(win)[None, :]
    n_fft = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(frames, n=n_fft, axis=1)
    acf = np.fft.irfft(spec.real**2 + spec.imag**2, n=n_fft, axis=1)[:, :win]
    energy = acf[:, :1]
    acf = np.where(energy > 1e-12, acf / np.maximum(energy, 1e-12), 0.0)
    return acf, centres


def salience(acf: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Harmonic-sum salience of each candidate period, shape (n_windows, n_tempi).

    Parameters
    ----------
    acf : np.ndarray, shape (n_windows, win)
    periods : np.ndarray, shape (n_tempi,), candidate beat periods in frames (fractional)
    """
    win = acf.shape[1]
    total = np.zeros((acf.shape[0], periods.size))
    for k, weight in HARMONIC_WEIGHTS.items():
        lag = periods * k
        ok = lag < win - 1
        lo = np.minimum(lag.astype(int), win - 2)
        frac = lag - lo
        value = acf[:, lo] * (1 - frac) + acf[:, lo + 1] * frac
        total += weight * np.where(ok[None, :], np.maximum(value, 0.0), 0.0)
    return total / sum(HARMONIC_WEIGHTS.values())


def log_normal_prior(bpms: np.ndarray, *, centre_bpm: float, octaves: float) -> np.ndarray:
    """Tempo prior, shape (n_tempi,), 1 at ``centre_bpm``."""
    return np.exp(-0.5 * (np.log2(bpms / centre_bpm) / octaves) ** 2)


def viterbi_path(
    score: np.ndarray, *, per_octave: int, drift_cost: float, jump_cost: float
) -> np.ndarray:
    """Best tempo-state path through ``score`` (n_windows, n_tempi), shape (n_windows,).

    A step of ``d`` states between neighbouring windows costs ``drift_cost * d / per_octave``
    when small (a ramp) and at most ``jump_cost`` (a sudden change).
    """
    n_win, n_states = score.shape
    d = np.abs(np.arange(n_states)[:, None] - np.arange(n_states)[None, :])
    trans = -np.minimum(drift_cost * d / per_octave, jump_cost)
    back = np.zeros((n_win, n_states), dtype=np.int64)
    acc = score[0].copy()
    for w in range(1, n_win):
        cand = acc[:, None] + trans
        back[w] = np.argmax(cand, axis=0)
        acc = cand[back[w], np.arange(n_states)] + score[w]
    path = np.empty(n_win, dtype=np.int64)
    path[-1] = int(np.argmax(acc))
    for w in range(n_win - 1, 0, -1):
        path[w - 1] = back[w, path[w]]
    return path


def peak_offset(score: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Sub-state position of the peak at each path state, shape (n_windows,), in states.

    A parabola through the chosen state's score and its two neighbours; clipped to +-0.5
    (0 at the ends of the grid and where the state is not a local peak).
    """
    n_win, n_states = score.shape
    w = np.arange(n_win)
    inner = (path > 0) & (path < n_states - 1)
    i = np.clip(path, 1, n_states - 2)
    left, mid, right = score[w, i - 1], score[w, i], score[w, i + 1]
    peak = inner & (mid >= left) & (mid >= right)
    return np.clip(np.where(peak, parabola_vertex(left, mid, right), 0.0), -0.5, 0.5)
