"""Prometheus metrics every service shares, registered once per process (default registry).

Each process serves them on ``/metrics``: workers through ``infra.health.HealthServer``, ingest
and the gateway on their HTTP port. The gateway's own HTTP and live-socket metrics live beside
its code (``k1_gateway_*``); the device/telemetry metrics are defined here so the gateway's
device endpoint and the telemetry service share one definition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger("k1.metrics")

MESSAGES_CONSUMED = Counter(
    "k1_messages_consumed_total",
    "Messages delivered to a durable consumer (every delivery)",
    ["queue"],
)
MESSAGES_FAILED = Counter(
    "k1_messages_failed_total", "Deliveries whose handler raised (retried or given up)", ["queue"]
)
OUTAGE_RETRIES = Counter(
    "k1_outage_retries_total",
    "In-place handler retries while MongoDB or the object store was unreachable",
    ["queue"],
)
MESSAGES_DEAD_LETTERED = Counter(
    "k1_messages_dead_lettered_total",
    "Messages moved to <queue>.dlq (reason: poison = bad schema, gave_up = failed too often)",
    ["queue", "reason"],
)
MESSAGE_HANDLING_SECONDS = Histogram(
    "k1_message_handling_seconds",
    "Time from delivery to ack or reject, per queue",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

ANALYSIS_SECONDS = Histogram(
    "k1_analysis_seconds",
    "Wall time of one track's analysis in the process pool",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
ANALYSIS_REALTIME_FACTOR = Histogram(
    "k1_analysis_realtime_factor",
    "Analysis time divided by audio duration (0.002 = a 4-minute song in 0.5 s)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
)

TRACKS = Gauge("k1_tracks", "Tracks by lifecycle state (periodic count)", ["state"])

TELEMETRY_FRAMES = Counter(
    "k1_telemetry_frames_total", "Device telemetry frames received (rate() = frames/s)"
)
DRIFT_MS = Histogram(
    "k1_drift_ms",
    "Beat drift reported by devices, milliseconds (absolute)",
    buckets=(1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1000),
)


def observe_analysis(seconds: float, audio_s: float) -> None:
    ANALYSIS_SECONDS.observe(seconds)
    if audio_s > 0:
        ANALYSIS_REALTIME_FACTOR.observe(seconds / audio_s)


async def count_track_states(tracks: Any, states: tuple[str, ...]) -> None:
    """Set ``k1_tracks{state}`` from the track store: one indexed count per state."""
    for state in states:
        page = await tracks.list_tracks(status=state, limit=1)
        TRACKS.labels(state=state).set(page.total)


class TrackStateGauge:
    """Refreshes ``k1_tracks`` every ``interval_s`` in the background (cheap: a few counts)."""

    def __init__(self, tracks: Any, *, interval_s: float = 30.0) -> None:
        from infra.docstore import TRACK_STATUSES

        self.tracks, self.interval_s, self.states = tracks, interval_s, TRACK_STATUSES
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="k1-track-gauge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await count_track_states(self.tracks, self.states)
            except Exception as exc:  # a metric must never take the service down
                log.debug("track state count failed: %s", type(exc).__name__)
            await asyncio.sleep(self.interval_s)
