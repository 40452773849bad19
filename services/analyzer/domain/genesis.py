"""The Genesis engine: an ``Analysis`` and a preset in, a sealed Genesis Map v4 dict out.

Times are milliseconds rounded to 0.1 ms; envelopes are the compact ``SampledEnvelope`` form with
values rounded to 3 decimals. ``global_metrics.f_measure``/``cemgil`` are measured with mir_eval
when reference beats are given; otherwise they are a self-consistency estimate (see
``self_consistency``) and ``metadata.analysis_config.metrics_source`` says which.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import numpy as np

from contracts.canonical import seal_map
from contracts.genesis_map import BAR_TRUSTED, GenesisMapV4

from .analysis import ENGINE, Analysis
from .presets import DEFAULT_PRESET, Preset, get_preset, intensity

MAP_VERSION = "4.0.0"
TOLERANCE_S = 0.07
"""Beat hit window, seconds (mir_eval's F-measure default)."""
CEMGIL_SIGMA_S = 0.04


def build_map(
    analysis: Analysis,
    *,
    preset: str = DEFAULT_PRESET,
    filename: str,
    audio_sha256: str,
    reference_beats_s: np.ndarray | None = None,
    timestamp_utc: datetime | None = None,
    validate: bool = True,
) -> dict[str, Any]:
    """A Genesis Map v4 for ``analysis`` under ``preset``, sealed with its ``map_sha256``.

    Parameters
    ----------
    analysis : Analysis
    preset : str
        A name from ``presets.PRESETS``.
    filename : str
        Original file name (the base name is kept, at most 255 characters).
    audio_sha256 : str
        SHA-256 (hex) of the original file bytes.
    reference_beats_s : np.ndarray, shape (n,), optional
        Annotated beat times, seconds: F-measure and Cemgil are then measured with mir_eval.
    timestamp_utc : datetime, optional
        Defaults to now; pass one for reproducible maps.
    validate : bool
        Validate against ``GenesisMapV4`` before sealing (raises ``pydantic.ValidationError``).
    """
    chosen = get_preset(preset)
    metrics, source = beat_metrics(analysis, reference_beats_s)
    warnings = list(analysis.warnings)
    document = {
        "metadata": _metadata(analysis, chosen, filename, audio_sha256, source, timestamp_utc),
        "global_metrics": {
            "duration_ms": _ms(analysis.duration_s),
            "bpm": round(min(analysis.rhythm.bpm, 300.0), 2),
            **metrics,
            "dynamic_range": analysis.features.dynamic_range_db,
            "quality": "warning" if warnings else "ok",
            "warnings": warnings[:50],
        },
        "layers": _layers(analysis, chosen),
    }
    if validate:
        GenesisMapV4.model_validate(document)
    return seal_map(document)


def beat_metrics(
    analysis: Analysis, reference_beats_s: np.ndarray | None
) -> tuple[dict[str, float], str]:
    """``({"f_measure", "cemgil"}, "reference" | "self_consistency")``."""
    est = np.asarray(analysis.rhythm.beat_times_s, dtype=np.float64)
    if reference_beats_s is None:
        f, c = self_consistency(
            est, analysis.features.onset_times_s, analysis.features.onset_strength
        )
        return {"f_measure": f, "cemgil": c}, "self_consistency"
    import mir_eval.beat  # lazily: importing mir_eval costs ~2 s

    ref = np.sort(np.asarray(reference_beats_s, dtype=np.float64))
    ref_t, est_t = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
    if len(ref_t) == 0 or len(est_t) == 0:  # short clips: mir_eval would score nothing
        ref_t, est_t = ref, est
    if len(ref_t) == 0 or len(est_t) == 0:
        return {"f_measure": 0.0, "cemgil": 0.0}, "reference"
    f = mir_eval.beat.f_measure(ref_t, est_t, f_measure_threshold=TOLERANCE_S)
    c = mir_eval.beat.cemgil(ref_t, est_t, cemgil_sigma=CEMGIL_SIGMA_S)[0]
    return {"f_measure": round(float(f), 4), "cemgil": round(float(c), 4)}, "reference"


def self_consistency(
    beats_s: np.ndarray, onsets_s: np.ndarray, onset_strength: np.ndarray
) -> tuple[float, float]:
    """Agreement of the beat grid with the track's own onset peaks (no ground truth needed).

    F-measure: precision = share of beats with an onset peak within ±70 ms; recall = share of the
    strongest onsets (as many as there are beats, within the beat span) lying within ±70 ms of a
    beat. Cemgil: mean over beats of ``exp(-d**2 / (2 * 0.04**2))``, ``d`` the distance to the
    nearest onset peak. Both are 0 without beats. It rewards a grid that sits on the strong
    onsets; it cannot see a grid that is consistently on the wrong (e.g. off-beat) onsets.
    """
    if len(beats_s) == 0 or len(onsets_s) == 0:
        return 0.0, 0.0
    d_beat = _distance_to_nearest(beats_s, onsets_s)
    precision = float(np.mean(d_beat <= TOLERANCE_S))
    span = (onsets_s >= beats_s[0] - TOLERANCE_S) & (onsets_s <= beats_s[-1] + TOLERANCE_S)
    strong = onsets_s[span][np.argsort(onset_strength[span])[::-1][: len(beats_s)]]
    recall = (
        float(np.mean(_distance_to_nearest(strong, beats_s) <= TOLERANCE_S)) if len(strong) else 0.0
    )
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    cemgil = float(np.mean(np.exp(-(d_beat**2) / (2 * CEMGIL_SIGMA_S**2))))
    return round(f, 4), round(cemgil, 4)


def _distance_to_nearest(t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    j = np.clip(np.searchsorted(grid, t), 1, max(len(grid) - 1, 1))
    left, right = grid[j - 1], grid[np.minimum(j, len(grid) - 1)]
    return np.minimum(np.abs(t - left), np.abs(t - right))


def _ms(t_s: float) -> float:
    return round(float(t_s) * 1000.0, 1)


def _ms_list(t_s: np.ndarray) -> list[float]:
    return np.round(np.asarray(t_s, dtype=np.float64) * 1000.0, 1).tolist()


def _sampled(values: np.ndarray, rate_hz: float, decimals: int) -> dict[str, Any]:
    rounded = np.round(np.asarray(values, dtype=np.float64), decimals)
    return {
        "start_ms": 0.0,
        "frame_rate_hz": rate_hz,
        "values": (rounded.astype(int) if decimals == 0 else rounded).tolist(),
    }


def time_signature(beats_per_bar: int, beat_division: int) -> str | None:
    """The meter as written: '2/4', '3/4', '4/4' for beats that divide in two; '6/8', '9/8',
    '12/8' (compound duple, triple, quadruple) for beats that divide in three; None unknown."""
    if beats_per_bar not in (2, 3, 4):
        return None
    return f"{3 * beats_per_bar}/8" if beat_division == 3 else f"{beats_per_bar}/4"


def _layers(a: Analysis, preset: Preset) -> dict[str, Any]:
    r, f = a.rhythm, a.features
    return {
        "rhythm": {
            "beat_grid_ms": _ms_list(r.beat_times_s),
            "downbeat_ms": _ms_list(r.downbeat_times_s),
            "beat_strength": np.round(np.clip(r.beat_strength, 0, 1), 3).tolist(),
            "local_bpm": np.round(np.clip(r.local_bpm, 0, 400), 1).tolist(),
            "beats_per_bar": r.beats_per_bar if 1 <= r.beats_per_bar <= 16 else None,
            "time_signature": time_signature(r.beats_per_bar, r.beat_division),
        },
        "frequency": {
            k: _sampled(np.clip(getattr(f, k), 0, 1), f.frame_rate_hz, 3)
            for k in ("bass", "mids", "highs")
        },
        "dynamics": {
            "loudness_db": _sampled(f.loudness_db, f.series_rate_hz, 1),
            "dynamic_range_db": float(np.clip(f.dynamic_range_db, 0, 200)),
        },
        "spectral": {
            "centroid_hz": _sampled(f.centroid_hz, f.series_rate_hz, 0),
            "flux": _sampled(np.clip(f.flux, 0, 1), f.series_rate_hz, 3),
            "rolloff_hz": _sampled(f.rolloff_hz, f.series_rate_hz, 0),
        },
        "annotations": {
            "sections": [
                {
                    "start_ms": _ms(s.start_s),
                    "end_ms": _ms(s.end_s),
                    "label": s.label,
                    "energy": round(float(np.clip(s.energy, 0, 1)), 3),
                }
                for s in a.sections
            ],
            "drops_ms": _ms_list(a.drops_s),
        },
        "choreography": _choreography(a, preset),
    }


def _choreography(a: Analysis, preset: Preset) -> dict[str, Any]:
    f = a.features
    t = np.arange(len(f.bass)) / f.frame_rate_hz
    drop_mask = np.zeros(len(t))
    for s in a.sections:
        if s.label == "drop":
            drop_mask[(t >= s.start_s) & (t < s.end_s)] = 1.0
    level = intensity(
        (f.bass, f.mids, f.highs), frame_rate_hz=f.frame_rate_hz, preset=preset, drop_mask=drop_mask
    )
    return {
        "preset": preset.name,
        "intensity": _sampled(level, f.frame_rate_hz, 3),
        "accents": _accents(a, preset),
        "palette": list(preset.palette),
    }


def downbeat_accent(preset: Preset, bar_confidence: float) -> float:
    """The accent of a bar line: the preset's downbeat accent when the bars are trusted
    (``bar_confidence`` at the contract's ``BAR_TRUSTED`` or above), sliding to its plain beat
    accent as the bar lines become a guess, so that a flash on the wrong beat of every bar
    stays no louder than the beats around it."""
    trust = float(np.clip(bar_confidence / BAR_TRUSTED, 0.0, 1.0))
    return preset.beat_accent + trust * (preset.downbeat_accent - preset.beat_accent)


def _accents(a: Analysis, preset: Preset) -> list[dict[str, Any]]:
    r = a.rhythm
    downbeats = set(_ms_list(r.downbeat_times_s))
    bar_accent = downbeat_accent(preset, r.bar_confidence)
    cues: list[tuple[float, str, float]] = []
    strengths = np.asarray(r.beat_strength, dtype=np.float64).tolist()
    for t_ms, strength in zip(_ms_list(r.beat_times_s), strengths, strict=False):
        kind, scale = (
            ("downbeat", bar_accent) if t_ms in downbeats else ("beat", preset.beat_accent)
        )
        cues.append((t_ms, kind, scale * (0.5 + 0.5 * strength)))
    cues += [(_ms(s.start_s), "section", preset.section_accent) for s in a.sections[1:]]
    cues += [(t_ms, "drop", preset.drop_accent) for t_ms in _ms_list(a.drops_s)]
    return [
        {"time_ms": t_ms, "strength": round(float(np.clip(s, 0, 1)), 3), "kind": kind}
        for t_ms, kind, s in sorted(cues)
        if s >= 0.05
    ]


def _metadata(
    a: Analysis,
    preset: Preset,
    filename: str,
    audio_sha256: str,
    metrics_source: str,
    timestamp_utc: datetime | None,
) -> dict[str, Any]:
    stamp = (timestamp_utc or datetime.now(UTC)).astimezone(UTC)
    return {
        "filename": os.path.basename(filename)[:255] or "audio",
        "analysis_engine": ENGINE,
        "timestamp_utc": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "version": MAP_VERSION,
        "hashes": {"audio_sha256": audio_sha256, "map_sha256": ""},
        "analysis_config": {
            **a.config,
            **a.source,
            "preset": preset.name,
            "metrics_source": metrics_source,
            "metrics_tolerance_ms": TOLERANCE_S * 1000,
            "rhythm_confidence": a.rhythm.confidence,
            "bar_confidence": a.rhythm.bar_confidence,
        },
    }
