"""Sections (intro, verse, build, drop, breakdown, outro) and drop moments.

Boundaries are peaks of a novelty curve that mixes Foote's checkerboard novelty on a timbre
self-similarity matrix with the change of loudness, both at ``_RATE_HZ``; they are then snapped to
the nearest downbeat (or beat) when the rhythm has one. Labels follow from each section's energy
relative to the track and to its neighbours. Reference: J. Foote, "Automatic audio segmentation
using a measure of audio novelty", ICME 2000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import SILENCE_DB, Features, box_resample
from .types import Rhythm

_RATE_HZ = 2.0
_HIGH, _LOW, _INTRO_OUTRO = 0.75, 0.4, 0.7
_MIN_SPREAD_DB = 6.0
_SIMILAR_DB = 6.0
_MIN_NOVELTY = 0.1
_MIN_CONTRAST = 0.15
"""Energy range (0..1) below which a track counts as flat: no drops, no breakdowns."""
_RISE = 0.08
"""Energy rise (0..1) from the first to the last third that makes a section before a drop
a build."""


@dataclass(frozen=True, slots=True)
class Section:
    start_s: float
    end_s: float
    label: str
    """one of contracts.genesis_map.SECTION_LABELS"""
    energy: float
    """mean normalised energy 0..1"""


def detect_sections(
    features: Features,
    rhythm: Rhythm,
    *,
    duration_s: float,
    min_section_s: float | None = None,
    kernel_s: float | None = None,
) -> tuple[list[Section], np.ndarray]:
    """Contiguous labelled sections covering ``[0, duration_s]`` and the drop moments.

    Parameters
    ----------
    features : Features
        Uses ``loudness_db`` and ``timbre_db`` (at ``series_rate_hz``).
    rhythm : Rhythm
        Boundaries snap to its downbeats (else beats) within half a bar.
    duration_s : float > 0
    min_section_s, kernel_s : float > 0, optional
        Shortest section and half-width of the novelty kernel, seconds. By default 8 s, or an
        eighth of the track (at least 2 s) for tracks shorter than 64 s.

    Returns
    -------
    sections : list of Section
        Empty when the whole track is silent.
    drops_s : np.ndarray, shape (n_drops,)
        Starts of drop sections that follow a clearly quieter section, seconds.
    """
    default = min(8.0, max(2.0, duration_s / 8))
    min_section_s = default if min_section_s is None else min_section_s
    kernel_s = default if kernel_s is None else kernel_s
    if duration_s <= 0 or min_section_s <= 0 or kernel_s <= 0:
        raise ValueError("duration_s, min_section_s and kernel_s must be > 0")
    n = max(1, int(np.ceil(duration_s * _RATE_HZ)))
    src = features.series_rate_hz
    loud = box_resample(features.loudness_db, src_rate=src, dst_rate=_RATE_HZ, n_out=n)
    if loud.max() <= SILENCE_DB:
        return [], np.zeros(0)
    timbre = box_resample(features.timbre_db, src_rate=src, dst_rate=_RATE_HZ, n_out=n)
    energy = _energy(loud)
    novelty = _novelty(np.column_stack([timbre, loud]), energy, half=int(kernel_s * _RATE_HZ))
    cuts = _pick_peaks(novelty, min_gap=int(min_section_s * _RATE_HZ)) / _RATE_HZ
    cuts = _refine(cuts, features, rhythm)
    cuts = _snap(cuts, rhythm, duration_s=duration_s, min_gap_s=min_section_s / 2)
    bounds = np.concatenate([[0.0], cuts, [duration_s]])
    sections = _label(bounds, energy)
    return sections, _drops(sections)


def _energy(loud_db: np.ndarray) -> np.ndarray:
    """Loudness mapped 0..1 between the track's quiet (5 %) and loud (95 %) gated levels; a
    spread under ``_MIN_SPREAD_DB`` is not stretched (a steady track stays flat)."""
    gated = loud_db[loud_db > SILENCE_DB]
    hi = np.percentile(gated, 95)
    lo = min(np.percentile(gated, 5), hi - _MIN_SPREAD_DB)
    return np.clip((loud_db - lo) / (hi - lo), 0.0, 1.0)


def _novelty(x_db: np.ndarray, energy: np.ndarray, *, half: int) -> np.ndarray:
    """Checkerboard novelty on a level-difference SSM plus half the energy step, absolute units.

    Similarity is ``exp(-(d / _SIMILAR_DB)**2)`` with ``d`` the RMS level difference in dB over
    features, so noise-level changes score ≈ 0 instead of being normalised up.
    """
    sq = np.sum(x_db * x_db, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x_db @ x_db.T), 0.0) / x_db.shape[1]
    ssm = np.exp(-d2 / _SIMILAR_DB**2)
    half = max(2, min(half, x_db.shape[0] // 4))
    kernel = _checkerboard(half)
    kernel /= np.abs(kernel).sum()
    padded = np.pad(ssm, half, mode="edge")
    foote = np.array(
        [np.sum(kernel * padded[t : t + 2 * half, t : t + 2 * half]) for t in range(x_db.shape[0])]
    )
    before = np.convolve(np.pad(energy, (half, 0), mode="edge"), np.ones(half) / half, "valid")[:-1]
    after = np.convolve(np.pad(energy, (0, half), mode="edge"), np.ones(half) / half, "valid")[1:]
    step = np.abs(after[: len(energy)] - before[: len(energy)])
    return 2.0 * np.maximum(foote, 0.0) + 0.5 * step


def _checkerboard(half: int) -> np.ndarray:
    """Gaussian-tapered checkerboard kernel, shape (2*half, 2*half)."""
    axis = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (axis / (0.5 * half)) ** 2)
    sign = np.sign(axis)
    return np.outer(sign, sign) * np.outer(taper, taper)


def _pick_peaks(novelty: np.ndarray, *, min_gap: int) -> np.ndarray:
    """Highest peaks first, ``min_gap`` apart and from both ends.

    Only peaks above mean + std/2 (and at least ``_MIN_NOVELTY``) count.
    """
    threshold = max(novelty.mean() + 0.5 * novelty.std(), _MIN_NOVELTY)
    chosen: list[int] = []
    for i in np.argsort(novelty)[::-1]:
        if novelty[i] < threshold:
            break
        if min_gap <= i <= len(novelty) - min_gap and all(abs(i - c) >= min_gap for c in chosen):
            chosen.append(int(i))
    return np.sort(np.array(chosen, dtype=np.float64))


def _snap(cuts: np.ndarray, rhythm: Rhythm, *, duration_s: float, min_gap_s: float) -> np.ndarray:
    """Move each cut to the nearest downbeat (else beat) within half a bar; keep cuts apart."""
    grid = rhythm.downbeat_times_s if len(rhythm.downbeat_times_s) else rhythm.beat_times_s
    if len(grid) and rhythm.bpm > 0 and len(cuts):
        reach = 0.5 * max(rhythm.beats_per_bar, 1) * 60.0 / rhythm.bpm
        best = _nearest(np.asarray(grid, dtype=np.float64), cuts)
        cuts = np.where(np.abs(best - cuts) <= reach, best, cuts)
    kept: list[float] = []
    for c in np.sort(cuts):
        if (
            c >= min_gap_s
            and duration_s - c >= min_gap_s
            and (not kept or c - kept[-1] >= min_gap_s)
        ):
            kept.append(float(c))
    return np.array(kept)


def _refine(cuts: np.ndarray, features: Features, rhythm: Rhythm) -> np.ndarray:
    """Move each coarse cut (±1 s at ``_RATE_HZ``) to the downbeat within a bar (else the
    series frame within 1.5 s) where the level and timbre change most from one bar to the next."""
    rate = features.series_rate_hz
    x = np.column_stack([features.timbre_db, features.loudness_db]).astype(np.float64)
    bar_s = max(rhythm.beats_per_bar, 1) * 60.0 / rhythm.bpm if rhythm.bpm > 0 else 2.0
    grid = np.asarray(
        rhythm.downbeat_times_s if len(rhythm.downbeat_times_s) else rhythm.beat_times_s
    )
    w = max(1, int(round(bar_s * rate)))
    out = []
    for cut in cuts:
        near = grid[np.abs(grid - cut) <= bar_s] if len(grid) else np.zeros(0)
        if not len(near):
            near = np.arange(cut - 1.5, cut + 1.5 + 1e-9, 1.0 / rate)
        frames = np.clip(np.round(near * rate).astype(int), w, len(x) - w)
        change = [
            np.linalg.norm(x[f : f + w].mean(axis=0) - x[f - w : f].mean(axis=0)) for f in frames
        ]
        out.append(float(near[int(np.argmax(change))]) if len(x) > 2 * w else float(cut))
    return np.array(out)


def _nearest(grid: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The element of the sorted ``grid`` closest to each ``t``."""
    if len(grid) == 1:
        return np.full_like(t, grid[0])
    j = np.clip(np.searchsorted(grid, t), 1, len(grid) - 1)
    left, right = grid[j - 1], grid[j]
    return np.where(t - left <= right - t, left, right)


def _label(bounds: np.ndarray, energy: np.ndarray) -> list[Section]:
    idx = np.clip(np.round(bounds * _RATE_HZ).astype(int), 0, len(energy))
    parts = [energy[a : max(b, a + 1)] for a, b in zip(idx[:-1], idx[1:], strict=False)]
    means = np.array([float(p.mean()) if p.size else 0.0 for p in parts])
    lo, hi = means.min(), means.max()
    rel = (means - lo) / (hi - lo) if hi - lo >= _MIN_CONTRAST else np.full(len(means), 0.5)
    labels = [_label_one(i, rel, parts) for i in range(len(parts))]
    return [
        Section(float(a), float(b), lab, round(float(e), 3))
        for a, b, lab, e in zip(bounds[:-1], bounds[1:], labels, means, strict=False)
    ]


def _label_one(i: int, rel: np.ndarray, parts: list[np.ndarray]) -> str:
    n = len(rel)
    if n > 1 and i == 0 and rel[0] < _INTRO_OUTRO:
        return "intro"
    if n > 1 and i == n - 1 and rel[i] < _INTRO_OUTRO:
        return "outro"
    if rel[i] >= _HIGH:
        return "drop"
    if i + 1 < n and rel[i + 1] >= _HIGH and _rising(parts[i]):
        return "build"
    if rel[i] < _LOW and i > 0 and rel[:i].max() >= _HIGH:
        return "breakdown"
    return "verse"


def _rising(part: np.ndarray) -> bool:
    third = max(1, part.size // 3)
    return part.size >= 3 and float(part[-third:].mean() - part[:third].mean()) >= _RISE


def _drops(sections: list[Section]) -> np.ndarray:
    """Starts of drop sections whose predecessor is clearly quieter."""
    return np.array(
        [
            cur.start_s
            for prev, cur in zip(sections[:-1], sections[1:], strict=False)
            if cur.label == "drop" and cur.energy - prev.energy >= _MIN_CONTRAST
        ]
    )
