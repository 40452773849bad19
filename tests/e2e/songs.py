"""Synthetic songs for end-to-end tests: a kick on every beat, a hat off-beat, a bass line."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

SR = 22050


def click_song(
    *, bpm: float, seconds: float = 8.0, seed: int = 0, fmt: str = "WAV", subtype: str | None = None
) -> bytes:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = 0.05 * np.sin(2 * np.pi * (110 + seed) * t)
    beat = 60.0 / bpm
    kick = np.sin(2 * np.pi * 55 * np.arange(2000) / SR) * np.exp(-np.arange(2000) / 300)
    hat = rng.standard_normal(600) * np.exp(-np.arange(600) / 80) * 0.3
    for k, start in enumerate(np.arange(0.2, seconds - 0.2, beat)):
        i = int(start * SR)
        x[i : i + kick.size] += kick[: n - i] * (1.0 if k % 4 == 0 else 0.7)
        j = int((start + beat / 2) * SR)
        if j + hat.size < n:
            x[j : j + hat.size] += hat
    buf = io.BytesIO()
    sf.write(
        buf,
        (0.5 * x / np.abs(x).max()).astype(np.float32),
        SR,
        format=fmt,
        **({"subtype": subtype} if subtype else {}),
    )
    return buf.getvalue()


def nan_in_the_middle(seconds: float = 8.0) -> bytes:
    """A float WAV whose first and last seconds are fine but whose middle holds NaN."""
    x = np.sin(2 * np.pi * 220 * np.arange(int(seconds * SR)) / SR).astype(np.float32) * 0.3
    x[int(seconds * SR / 2)] = np.nan
    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="FLOAT")
    return buf.getvalue()
