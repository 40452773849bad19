"""Semantic rules of a schema-valid Genesis Map: what the schema alone cannot say.

The rules read ``MapFacts``, a flat summary that the fast (msgspec) and the exact (pydantic)
schema paths both produce, so each rule is written once. Every rule reports all it finds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from contracts.device_limits import DeviceLimits
from contracts.events import ValidationIssue

DOWNBEAT_TOLERANCE_MS = 30.0
"""A downbeat further than this from every beat is not on the grid."""
BPM_TOLERANCE = 0.08
"""Relative gap allowed between ``bpm`` and 60000 / median inter-beat interval."""
FRAME_JITTER = 0.01
"""Relative step variation allowed in a point-form envelope (at least 1 ms)."""
SECTION_GAP_TOLERANCE_MS = 1.0
"""Gap or overlap allowed between consecutive sections."""


@dataclass(frozen=True, slots=True)
class SampledFacts:
    start_ms: float
    frame_rate_hz: float
    frames: int


@dataclass(frozen=True, slots=True)
class MapFacts:
    """What the semantic rules need from a map; times in ms from the file start."""

    duration_ms: float
    bpm: float
    quality: str
    map_warnings: list[str]
    beats_ms: np.ndarray
    downbeats_ms: np.ndarray
    beat_strength_count: int
    local_bpm_count: int | None
    envelopes: dict[str, np.ndarray | SampledFacts]
    """Point-form envelopes as their times (shape (n,)), sampled ones as ``SampledFacts``."""
    sections_ms: list[tuple[float, float]]
    drops_ms: list[float]


def check_semantics(
    facts: MapFacts, limits: DeviceLimits
) -> tuple[list[ValidationIssue], list[str]]:
    """Every semantic problem of a map, and the warnings that flag a valid map."""
    issues: list[ValidationIssue] = []
    warnings: list[str] = []
    issues += _limit_issues(facts, limits)
    issues += _grid_issues("layers.rhythm.beat_grid_ms", facts.beats_ms, facts.duration_ms)
    issues += _grid_issues("layers.rhythm.downbeat_ms", facts.downbeats_ms, facts.duration_ms)
    issues += _downbeat_issues(facts, warnings)
    issues += _per_beat_issues(facts)
    issues += _bpm_issues(facts)
    for path, envelope in facts.envelopes.items():
        issues += _envelope_issues(path, envelope, facts.duration_ms)
    issues += _section_issues(facts.sections_ms, facts.duration_ms)
    issues += [
        _issue(f"layers.annotations.drops_ms[{i}]", f"drop at {t} ms is after the end")
        for i, t in enumerate(facts.drops_ms)
        if t > facts.duration_ms
    ]
    if facts.beats_ms.size == 0:
        warnings.append("no beats found: the show runs on envelopes only")
    return issues, facts.map_warnings + warnings


def _issue(field: str, message: str) -> ValidationIssue:
    return ValidationIssue(field=field, message=message)


def _limit_issues(facts: MapFacts, limits: DeviceLimits) -> list[ValidationIssue]:
    found = []
    if facts.duration_ms > limits.max_duration_ms:
        found.append(
            _issue(
                "global_metrics.duration_ms",
                f"{facts.duration_ms:.0f} ms is longer "
                f"than the device limit of {limits.max_duration_ms:.0f} ms",
            )
        )
    if facts.beats_ms.size > limits.max_beats:
        found.append(
            _issue(
                "layers.rhythm.beat_grid_ms",
                f"{facts.beats_ms.size} beats exceed the device limit of {limits.max_beats}",
            )
        )
    if len(facts.sections_ms) > limits.max_sections:
        found.append(
            _issue(
                "layers.annotations.sections",
                f"{len(facts.sections_ms)} sections "
                f"exceed the device limit of {limits.max_sections}",
            )
        )
    for path, envelope in facts.envelopes.items():
        frames = envelope.frames if isinstance(envelope, SampledFacts) else envelope.size
        if frames > limits.max_envelope_frames:
            found.append(
                _issue(
                    path, f"{frames} frames exceed the device limit of {limits.max_envelope_frames}"
                )
            )
    return found


def _grid_issues(path: str, times_ms: np.ndarray, duration_ms: float) -> list[ValidationIssue]:
    """A grid must be strictly increasing and inside [0, duration]."""
    if times_ms.size == 0:
        return []
    found = []
    # The plain checks first (a few array operations); positions only when something is wrong.
    steps = times_ms[1:] - times_ms[:-1]  # np.diff, without its overhead
    if (steps <= 0).any():
        bad = np.flatnonzero(steps <= 0) + 1
        found.append(
            _issue(
                f"{path}[{bad[0]}]",
                f"not strictly increasing: {bad.size} time(s) "
                f"do not come after the previous one, first {times_ms[bad[0]]} ms",
            )
        )
    if (times_ms > duration_ms).any():
        late = np.flatnonzero(times_ms > duration_ms)
        found.append(
            _issue(
                f"{path}[{late[0]}]",
                f"{late.size} time(s) after the end of the "
                f"track ({duration_ms} ms), first {times_ms[late[0]]} ms",
            )
        )
    return found


def _downbeat_issues(facts: MapFacts, warnings: list[str]) -> list[ValidationIssue]:
    """Downbeats within the beat grid must fall on a beat; ones beyond its ends are flagged."""
    beats, downbeats = facts.beats_ms, facts.downbeats_ms
    if downbeats.size == 0:
        return []
    if beats.size == 0:
        return [_issue("layers.rhythm.downbeat_ms", "downbeats given but no beats")]
    tol = DOWNBEAT_TOLERANCE_MS
    inside = (downbeats >= beats[0] - tol) & (downbeats <= beats[-1] + tol)
    if not inside.all():
        warnings.append(f"{int((~inside).sum())} downbeat(s) lie beyond the ends of the beat grid")
    # The beats either side of each downbeat (np.clip(at, 1, n - 1) spelled with the bare
    # ufuncs); a one-beat grid has that beat on both sides.
    last = beats.size - 1
    at = np.minimum(np.maximum(beats.searchsorted(downbeats), 1), max(last, 1))
    after = beats[at] if last else beats[at - 1]
    nearest = np.minimum(np.abs(downbeats - beats[at - 1]), np.abs(downbeats - after))
    off = inside & (nearest > tol)
    if not off.any():
        return []
    off = np.flatnonzero(off)
    return [
        _issue(
            f"layers.rhythm.downbeat_ms[{off[0]}]",
            f"{off.size} downbeat(s) are more "
            f"than {tol:.0f} ms from every beat, first {downbeats[off[0]]} ms",
        )
    ]


def _per_beat_issues(facts: MapFacts) -> list[ValidationIssue]:
    """Per-beat lists, when given, have one value per beat."""
    n_beats = facts.beats_ms.size
    found = []
    for name, count in (
        ("beat_strength", facts.beat_strength_count),
        ("local_bpm", facts.local_bpm_count),
    ):
        if count and count != n_beats:
            found.append(_issue(f"layers.rhythm.{name}", f"{count} values for {n_beats} beats"))
    return found


def _bpm_issues(facts: MapFacts) -> list[ValidationIssue]:
    """``bpm`` is 0 exactly when there are no beats, and matches the grid's median interval."""
    beats, bpm = facts.beats_ms, facts.bpm
    if (beats.size == 0) != (bpm == 0):
        need = "0 when no beats were found" if beats.size == 0 else "above 0 when there are beats"
        return [_issue("global_metrics.bpm", f"bpm is {bpm}; it must be {need}")]
    if beats.size < 3:
        return []
    interval_ms = _median(beats[1:] - beats[:-1])
    grid_bpm = 60_000.0 / interval_ms if interval_ms > 0 else float("inf")
    if abs(grid_bpm - bpm) > BPM_TOLERANCE * bpm:
        return [
            _issue(
                "global_metrics.bpm",
                f"bpm {bpm} disagrees with the beat grid "
                f"({grid_bpm:.1f} from its median interval of {interval_ms:.1f} ms)",
            )
        ]
    return []


def _envelope_issues(
    path: str, envelope: np.ndarray | SampledFacts, duration_ms: float
) -> list[ValidationIssue]:
    """Sampled envelopes cover the track to within one frame; point-form ones are evenly spaced."""
    if isinstance(envelope, SampledFacts):
        frame_ms = 1000.0 / envelope.frame_rate_hz
        last_ms = envelope.start_ms + (envelope.frames - 1) * frame_ms
        if envelope.start_ms > frame_ms + 1e-6 or abs(last_ms - duration_ms) > frame_ms + 1e-6:
            return [
                _issue(
                    path,
                    f"{envelope.frames} frames at {envelope.frame_rate_hz} Hz from "
                    f"{envelope.start_ms} ms span to {last_ms:.0f} ms; the track lasts "
                    f"{duration_ms:.0f} ms (one frame of slack allowed)",
                )
            ]
        return []
    found = _grid_issues(f"{path}.time_ms", envelope, duration_ms + _median_step(envelope))
    steps = np.diff(envelope)
    if steps.size and not found:
        step = _median_step(envelope)
        uneven = np.flatnonzero(np.abs(steps - step) > max(1.0, FRAME_JITTER * step)) + 1
        if uneven.size:
            found.append(
                _issue(
                    f"{path}[{uneven[0]}].time_ms",
                    f"not evenly framed: {uneven.size} step(s) differ from the {step:.1f} ms frame",
                )
            )
    return found


def _median_step(times_ms: np.ndarray) -> float:
    return _median(times_ms[1:] - times_ms[:-1]) if times_ms.size > 1 else 0.0


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a non-empty 1-d array, without its overhead (one sort;
    the mean of the two middle values is ``(a + b) / 2`` there too; NaN if any is NaN)."""
    ordered = np.sort(values)
    n = ordered.size
    if ordered[-1] != ordered[-1]:  # NaN sorts last
        return float("nan")
    if n % 2:
        return float(ordered[n // 2])
    return float((ordered[n // 2 - 1] + ordered[n // 2]) / 2)


def _section_issues(
    sections_ms: list[tuple[float, float]], duration_ms: float
) -> list[ValidationIssue]:
    """Sections are non-empty, contiguous (no gap, no overlap) and inside the track."""
    found = []
    previous_end = None
    for i, (start, end) in enumerate(sections_ms):
        where = f"layers.annotations.sections[{i}]"
        if end <= start:
            found.append(_issue(where, f"ends ({end} ms) before it starts ({start} ms)"))
        if end > duration_ms + SECTION_GAP_TOLERANCE_MS:
            found.append(_issue(where, f"ends at {end} ms, after the track ({duration_ms} ms)"))
        if previous_end is not None and abs(start - previous_end) > SECTION_GAP_TOLERANCE_MS:
            kind = "overlaps the previous one" if start < previous_end else "leaves a gap"
            found.append(
                _issue(
                    where,
                    f"starts at {start} ms but the previous section ends at "
                    f"{previous_end} ms: it {kind}",
                )
            )
        previous_end = end
    return found


def as_times(values: Any) -> np.ndarray:
    """A list of times as a float array (shape (n,))."""
    return np.fromiter(values, np.float64, len(values)) if values else np.empty(0)
