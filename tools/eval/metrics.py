"""Beat, downbeat and tempo scores with mir_eval (beats within the first 5 s are scored too)."""

from __future__ import annotations

import warnings
from typing import overload

import mir_eval
import numpy as np

TEMPO_TOLERANCE = 0.04
F_WINDOW_S = 0.07


def reference_tempo(ref_beats: np.ndarray) -> float:
    """Reference tempo: 60 / median inter-beat interval, BPM."""
    return 60.0 / float(np.median(np.diff(ref_beats)))


def beat_scores(ref: np.ndarray, est: np.ndarray) -> dict[str, float]:
    """F-measure (+-70 ms), Cemgil, CMLt and AMLt. No beat is trimmed: songs start at once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmlc, cmlt, amlc, amlt = mir_eval.beat.continuity(ref, est)
        return {
            "f": mir_eval.beat.f_measure(ref, est, f_measure_threshold=F_WINDOW_S),
            "cemgil": mir_eval.beat.cemgil(ref, est)[0],
            "cmlt": cmlt,
            "amlt": amlt,
        }


@overload
def downbeat_f(ref: np.ndarray, est: np.ndarray) -> float: ...
@overload
def downbeat_f(ref: np.ndarray, est: None) -> None: ...
def downbeat_f(ref: np.ndarray, est: np.ndarray | None) -> float | None:
    """Downbeat F-measure (+-70 ms); None when the engine gives no downbeats by design."""
    if est is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mir_eval.beat.f_measure(ref, est, f_measure_threshold=F_WINDOW_S)


def tempo_ok(ref_bpm: float, est_bpm: float) -> float:
    """1.0 when ``est_bpm`` is within 4 % of ``ref_bpm``, else 0.0."""
    return float(abs(est_bpm - ref_bpm) <= TEMPO_TOLERANCE * ref_bpm)


def matched_offsets_s(
    ref: np.ndarray, est: np.ndarray, *, window_s: float = F_WINDOW_S
) -> np.ndarray:
    """Signed offsets (est - nearest ref) of the estimated beats within ``window_s``, seconds."""
    if ref.size == 0 or est.size == 0:
        return np.zeros(0)
    d = est[:, None] - ref[None, :]
    nearest = d[np.arange(est.size), np.argmin(np.abs(d), axis=1)]
    return nearest[np.abs(nearest) <= window_s]


def mean_offset_s(ref: np.ndarray, est: np.ndarray, *, window_s: float = F_WINDOW_S) -> float:
    """Mean signed offset (est - nearest ref) of the matched beats, seconds (diagnostic)."""
    hit = matched_offsets_s(ref, est, window_s=window_s)
    return float(hit.mean()) if hit.size else float("nan")
