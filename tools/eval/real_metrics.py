"""Scores and error diagnostics for real, human-annotated recordings (pure numpy + mir_eval).

Conventions as in the literature: beats (and downbeats) in the first 5 s are ignored
(``mir_eval.beat.trim_beats``); F-measure within ±70 ms, Cemgil (σ 40 ms), CMLt / AMLt; tempo
Acc1 within 4 % of the reference, Acc2 within 4 % of ×1, ×2, ×½, ×3 or ×⅓ of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.eval import metrics
from tools.eval.metrics import F_WINDOW_S, TEMPO_TOLERANCE

IGNORE_FIRST_S = 5.0
ACC2_FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
OCTAVE_NAMES = {
    1.0: "x1",
    2.0: "x2",
    0.5: "x1/2",
    3.0: "x3",
    1.0 / 3.0: "x1/3",
    1.5: "x3/2",
    2.0 / 3.0: "x2/3",
}
OFFBEAT_PHASE = (0.35, 0.65)
"""an estimated beat between these fractions of the annotated inter-beat interval is off-beat"""


@dataclass(frozen=True)
class Reference:
    """A human annotation: beat times and, where known, each beat's position in its bar."""

    beats_s: np.ndarray
    """shape (n,), seconds"""
    positions: np.ndarray | None
    """shape (n,), 1 = downbeat; None when the annotation marks no bars"""
    bpm: float

    @property
    def downbeats_s(self) -> np.ndarray | None:
        return None if self.positions is None else self.beats_s[self.positions == 1]


def read_reference(text: str, *, bpm: float | None = None) -> Reference:
    """Parse a ``.beats`` file: one beat a line, time in seconds, then optionally its position.

    ``ValueError`` when a line is malformed or there are fewer than two beats.
    """
    times, positions = [], []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            times.append(float(fields[0]))
            positions.append(int(float(fields[1])) if len(fields) > 1 else 0)
        except ValueError:
            raise ValueError(f"line {n}: expected 'seconds [position]', got {line!r}") from None
    beats = np.asarray(times, dtype=np.float64)
    if beats.size < 2 or np.any(np.diff(beats) <= 0):
        raise ValueError("need at least two strictly increasing beat times")
    ref_bpm = bpm if bpm else 60.0 / float(np.median(np.diff(beats)))
    return Reference(beats, _bar_positions(np.asarray(positions, dtype=np.int64)), float(ref_bpm))


def _bar_positions(pos: np.ndarray | None) -> np.ndarray | None:
    """``pos`` when it marks at least one downbeat (1), else None: no bars annotated."""
    return pos if pos is not None and np.any(pos == 1) else None


def crop_reference(ref: Reference, start_s: float, length_s: float) -> Reference | None:
    """The annotation of the excerpt ``[start_s, start_s + length_s)``, its times shifted to
    start at 0 and its BPM that excerpt's own (60 / median inter-beat interval); None when
    fewer than two annotated beats fall inside."""
    inside = (ref.beats_s >= start_s) & (ref.beats_s < start_s + length_s)
    beats = ref.beats_s[inside] - start_s
    if beats.size < 2:
        return None
    pos = None if ref.positions is None else ref.positions[inside]
    return Reference(beats, _bar_positions(pos), 60.0 / float(np.median(np.diff(beats))))


def _trim(x: np.ndarray) -> np.ndarray:
    return x[x >= IGNORE_FIRST_S]


def beat_scores(ref: Reference, est_s: np.ndarray) -> dict[str, float]:
    """F-measure, Cemgil, CMLt and AMLt with the first 5 s ignored (0 for an empty estimate)."""
    r, e = _trim(ref.beats_s), _trim(np.asarray(est_s, dtype=np.float64))
    if e.size == 0 or r.size == 0:
        return {"f": 0.0, "cemgil": 0.0, "cmlt": 0.0, "amlt": 0.0}
    return {k: float(v) for k, v in metrics.beat_scores(r, e).items()}


def downbeat_f(ref: Reference, est_s: np.ndarray | None) -> float | None:
    """Downbeat F-measure (±70 ms, first 5 s ignored); None when the annotation has no bars."""
    ref_down = ref.downbeats_s
    if ref_down is None:
        return None
    r, e = _trim(ref_down), _trim(np.asarray([] if est_s is None else est_s, dtype=np.float64))
    return float(metrics.downbeat_f(r, e)) if r.size and e.size else 0.0


def tempo_scores(ref_bpm: float, est_bpm: float) -> dict[str, float]:
    """Acc1 (within 4 %) and Acc2 (within 4 % of ×1, ×2, ×½, ×3, ×⅓), each 0.0 or 1.0."""
    ok = [abs(est_bpm - f * ref_bpm) <= TEMPO_TOLERANCE * f * ref_bpm for f in ACC2_FACTORS]
    return {"acc1": float(ok[0]), "acc2": float(any(ok))}


def tempo_octave(ref_bpm: float, est_bpm: float) -> str:
    """Which metrical relation the estimated tempo has to the reference ('x1', 'x2', … 'other')."""
    if est_bpm <= 0:
        return "none"
    for factor, name in OCTAVE_NAMES.items():
        if abs(est_bpm - factor * ref_bpm) <= TEMPO_TOLERANCE * factor * ref_bpm:
            return name
    return "other"


def median_offset_ms(ref: Reference, est_s: np.ndarray) -> float:
    """Median signed offset (estimate − nearest annotated beat) of beats within ±70 ms, ms."""
    hit = metrics.matched_offsets_s(_trim(ref.beats_s), _trim(np.asarray(est_s, dtype=float)))
    return float(1000.0 * np.median(hit)) if hit.size else float("nan")


def offbeat_share(ref: Reference, est_s: np.ndarray) -> float:
    """Share of estimated beats (inside the annotated span) that sit half a beat off the grid."""
    r, e = ref.beats_s, _trim(np.asarray(est_s, dtype=np.float64))
    e = e[(e >= r[0]) & (e < r[-1])]
    if e.size == 0:
        return float("nan")
    i = np.searchsorted(r, e, side="right") - 1
    phase = (e - r[i]) / (r[i + 1] - r[i])
    return float(np.mean((phase > OFFBEAT_PHASE[0]) & (phase < OFFBEAT_PHASE[1])))


def downbeat_positions(ref: Reference, est_down_s: np.ndarray | None) -> dict[str, int]:
    """Where the predicted downbeats fall in the annotated bar: {'1': n, '2': n, …, 'off': n}.

    Each predicted downbeat (first 5 s ignored) takes the bar position of the annotated beat
    within ±70 ms of it, or 'off' when none is that close. Empty when the annotation has no bars.
    """
    if ref.positions is None or est_down_s is None:
        return {}
    e = _trim(np.asarray(est_down_s, dtype=np.float64))
    counts: dict[str, int] = {}
    for t in e:
        j = int(np.argmin(np.abs(ref.beats_s - t)))
        key = str(int(ref.positions[j])) if abs(ref.beats_s[j] - t) <= F_WINDOW_S else "off"
        counts[key] = counts.get(key, 0) + 1
    return counts


def annotated_meter(ref: Reference) -> int:
    """Beats per bar of the annotation (its most common largest position), 0 if unknown."""
    if ref.positions is None:
        return 0
    bars = np.split(ref.positions, np.flatnonzero(ref.positions == 1))
    lengths = [int(b.max()) for b in bars if b.size and b[0] == 1]
    return int(np.bincount(lengths).argmax()) if lengths else 0
