"""What one telemetry process holds of one partition: its devices' drift windows, the
deployments' per-partition sketches, the per-second rollups of the chunks still open, the alert
rule's state and the raw batches already counted.

All of it is derived from the stored raw batches: a process that takes a partition over (at
start, or after another one stopped or died) rebuilds it from them (``rebuild``) — nothing is
handed over, because a dead process cannot hand anything over and the raw batches are written
before a batch is acked anyway. Rollup chunks are complete in memory from ``horizon`` on;
frames of an older chunk (very late, or redelivered after the chunk was written) mark it for
recomputation from the raw batches, so a rollup counts every stored frame exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.docstore_devices_drift import ROLLUP_CHUNK_S, partial_key
from services.telemetry.config import TelemetrySettings
from services.telemetry.domain import AlertRule, DriftWindow, SketchWindow, second_rollup
from services.telemetry.raw import Frame

IDLE_CLOSE_S = 10.0
"""A partition without frames for this long (wall clock) closes its chunks by the wall clock."""
Chunk = dict[int, list[float]]
"""Second offset in the chunk → its ``drift_ms`` values, in arrival order."""


def chunk_start(t_s: float) -> int:
    sec = int(t_s // 1)
    return sec - sec % ROLLUP_CHUNK_S


@dataclass
class PartitionState:
    partition: int
    settings: TelemetrySettings
    horizon: float
    """Chunks starting at or after this are complete in memory."""
    windows: dict[str, DriftWindow] = field(default_factory=dict)
    deployments: dict[str, SketchWindow] = field(default_factory=dict)
    chunks: dict[tuple[str, int], Chunk] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    recompute: set[tuple[str, int]] = field(default_factory=set)
    dirty_devices: set[str] = field(default_factory=set)
    dirty_deployments: set[str] = field(default_factory=set)
    last_stats_s: float = float("-inf")
    counted: int = 0
    newest_s: float = float("-inf")
    """The latest gateway receipt among the frames counted here."""
    applied_wall_s: float = float("-inf")
    """When frames were last counted here (wall clock)."""

    def __post_init__(self) -> None:
        self.rule = AlertRule(self.settings.alert_cooldown_s)

    def event_now(self, wall_s: float) -> float:
        """The partition's clock for closing chunks: its newest frame's receipt (a backlog being
        worked off closes chunks in the frames' own time, not the wall clock's) — or, once no
        frame came for ``IDLE_CLOSE_S``, the wall clock (the last chunks close too)."""
        if wall_s - self.applied_wall_s >= IDLE_CLOSE_S:
            return max(self.newest_s, wall_s)
        return self.newest_s

    def apply(self, frames: list[Frame], *, now_s: float, thresholds=None) -> list[Frame]:
        """Count ``frames``; returns those that raise an alert (``thresholds``: device → ms;
        None while rebuilding, when no alert is raised again)."""
        s, alerting = self.settings, []
        close_after = ROLLUP_CHUNK_S + s.close_delay_s
        if frames:
            self.newest_s = max(self.newest_s, max(f.t_s for f in frames))
        self.applied_wall_s = now_s
        now_s = self.event_now(now_s)
        for f in frames:
            window = self.windows.get(f.device_id)
            if window is None:
                window = self.windows[f.device_id] = DriftWindow(s.window_s, s.window_max_frames)
            window.add(f.t_s, f.drift_ms)
            self.dirty_devices.add(f.device_id)
            if f.deployment_id:
                dep = self.deployments.get(f.deployment_id)
                if dep is None:
                    dep = self.deployments[f.deployment_id] = SketchWindow(s.window_s)
                dep.add(f.t_s, f.drift_ms)
                self.dirty_deployments.add(f.deployment_id)
            key = (f.device_id, chunk_start(f.t_s))
            chunk = self.chunks.get(key)
            if chunk is None:
                written = thresholds is not None and key[1] + close_after <= now_s
                if key[1] < self.horizon or written:
                    self.recompute.add(key)  # written already, or never held here
                else:
                    chunk = self.chunks[key] = {}
            if chunk is not None:
                chunk.setdefault(int(f.t_s // 1) - key[1], []).append(f.drift_ms)
            threshold = (thresholds or {}).get(f.device_id, s.default_threshold_ms)
            alert = self.rule.check(f.device_id, f.drift_ms, threshold, f.t_s)
            if alert and thresholds is not None:
                alerting.append(f)
        self.counted += len(frames)
        return alerting

    def closed_chunks(self, now_s: float) -> list[dict]:
        """Rollup documents of the chunks that closed by ``now_s`` (see ``event_now``),
        removed from memory."""
        close_after = ROLLUP_CHUNK_S + self.settings.close_delay_s
        done = [key for key in self.chunks if key[1] + close_after <= now_s]
        return [rollup_doc(key, self.chunks.pop(key), self.partition) for key in done]

    def watermark(self, now_s: float) -> float:
        """Every chunk starting before this has been written (or is being written now)."""
        return float(min((k[1] for k in self.chunks), default=chunk_start(now_s)))

    def stats_items(self) -> list[tuple[str, dict]]:
        items: list[tuple[str, dict]] = []
        for device_id in sorted(self.dirty_devices):
            stats = self.windows[device_id].stats()
            items.append((f"device:{device_id}", {**stats, "partition": self.partition}))
        for dep_id in sorted(self.dirty_deployments):
            key = f"deployment:{dep_id}"
            part = self.deployments[dep_id].part()
            items.append((partial_key(key, self.partition), {"key": key, **part}))
        self.dirty_devices, self.dirty_deployments = set(), set()
        return items

    def forget_seen(self, before_s: float) -> None:
        for batch_id in [b for b, t in self.seen.items() if t < before_s]:
            del self.seen[batch_id]


def rollup_doc(key: tuple[str, int], chunk: Chunk, partition: int) -> dict:
    device_id, t0 = key
    secs = sorted(chunk)
    rows = [second_rollup(chunk[sec]) for sec in secs]
    return {
        "_id": f"{device_id}:{t0}",
        "device_id": device_id,
        "partition": partition,
        "t0_s": float(t0),
        "sec": secs,
        "n": [r[0] for r in rows],
        "p50": [r[1] for r in rows],
        "p95": [r[2] for r in rows],
        "max": [r[3] for r in rows],
        "last": [r[4] for r in rows],
    }


def rollups_from_frames(
    keys: set[tuple[str, int]], frames: list[Frame], partition: int
) -> list[dict]:
    """Rollup documents of the chunks ``keys``, computed from all their stored frames."""
    chunks: dict[tuple[str, int], Chunk] = {}
    for f in frames:
        key = (f.device_id, chunk_start(f.t_s))
        if key in keys:
            chunk = chunks.setdefault(key, {})
            chunk.setdefault(int(f.t_s // 1) - key[1], []).append(f.drift_ms)
    return [rollup_doc(key, chunks[key], partition) for key in sorted(chunks)]
