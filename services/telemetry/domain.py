"""Pure drift statistics and the alert rule.

A window keeps the recent ``(t_s, drift_ms)`` of one device or deployment; its statistics are
P50/P95 of ``|drift_ms|`` (nearest rank) and the largest ``|drift_ms|``. A device is alerted
when ``|drift_ms|`` exceeds its threshold and it was within it before — or it has kept drifting
for ``cooldown_s`` since its last alert — so a drifting device raises one alert, not ten a second.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from infra.docstore_devices_drift import sketch_bucket, sketch_percentile


@dataclass
class DriftWindow:
    window_s: float
    max_frames: int
    _items: deque[tuple[float, float]] = field(default_factory=deque)
    last_drift_ms: float = 0.0
    total: int = 0

    def add(self, t_s: float, drift_ms: float) -> None:
        if self._items and t_s < self._items[-1][0] - self.window_s:
            self.total += 1  # counted, but long out of the window
            return
        self._items.append((t_s, drift_ms))
        self.last_drift_ms, self.total = drift_ms, self.total + 1
        while len(self._items) > self.max_frames:
            self._items.popleft()
        self.expire(t_s)

    def expire(self, now_s: float) -> None:
        while self._items and self._items[0][0] < now_s - self.window_s:
            self._items.popleft()

    def stats(self) -> dict[str, float | int]:
        values = sorted(abs(d) for _, d in self._items)
        return {
            "count": len(values),
            "total_frames": self.total,
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "max_ms": values[-1] if values else 0.0,
            "last_drift_ms": self.last_drift_ms,
            "window_s": self.window_s,
        }


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


@dataclass
class AlertRule:
    cooldown_s: float
    _drifting_since_alert: dict[str, float] = field(default_factory=dict)

    def check(self, device_id: str, drift_ms: float, threshold_ms: float, t_s: float) -> bool:
        """True when this frame should raise an alert."""
        if abs(drift_ms) <= threshold_ms:
            self._drifting_since_alert.pop(device_id, None)
            return False
        last = self._drifting_since_alert.get(device_id)
        if last is not None and t_s - last < self.cooldown_s:
            return False
        self._drifting_since_alert[device_id] = t_s
        return True


@dataclass
class SketchWindow:
    """A deployment's drift in one partition: per second, a log-bucket sketch of ``|drift|``,
    so the parts of several partitions can be merged (``infra.docstore_devices_drift``)."""

    window_s: float
    _seconds: dict[int, dict[int, int]] = field(default_factory=dict)
    _max: dict[int, float] = field(default_factory=dict)
    last_drift_ms: float = 0.0
    last_s: float = 0.0
    total: int = 0

    def add(self, t_s: float, drift_ms: float) -> None:
        sec, bucket = int(t_s), sketch_bucket(abs(drift_ms))
        counts = self._seconds.setdefault(sec, {})
        counts[bucket] = counts.get(bucket, 0) + 1
        self._max[sec] = max(self._max.get(sec, 0.0), abs(drift_ms))
        self.total += 1
        if t_s >= self.last_s:
            self.last_drift_ms, self.last_s = drift_ms, t_s

    def part(self) -> dict[str, object]:
        """This partition's part of the window ending at the newest frame."""
        oldest = self.last_s - self.window_s
        for sec in [s for s in self._seconds if s < oldest - 1]:
            del self._seconds[sec], self._max[sec]
        counts: dict[int, int] = {}
        for sec, buckets in self._seconds.items():
            if sec >= oldest - 1:
                for b, c in buckets.items():
                    counts[b] = counts.get(b, 0) + c
        return {
            "count": sum(counts.values()),
            "total_frames": self.total,
            "p50_ms": sketch_percentile(counts, 50),
            "p95_ms": sketch_percentile(counts, 95),
            "max_ms": max(self._max.values(), default=0.0),
            "last_drift_ms": self.last_drift_ms,
            "last_s": self.last_s,
            "window_s": self.window_s,
            "sketch": [[b, c] for b, c in sorted(counts.items())],
        }


def second_rollup(drifts_ms: list[float]) -> tuple[int, float, float, float, float]:
    """``(n, p50, p95, max, last)`` of one device-second's drift values, in arrival order:
    percentiles and maximum of ``|drift_ms|``, and the last signed value."""
    values = sorted(abs(d) for d in drifts_ms)
    return len(values), percentile(values, 50), percentile(values, 95), values[-1], drifts_ms[-1]
