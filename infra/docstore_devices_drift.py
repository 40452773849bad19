"""How drift is kept in the document store (pure: shared by the MongoDB adapter and its fake).

* ``telemetry_raw``: one document per received partition batch, ``_id`` = the batch's id (so a
  redelivered batch is stored once): ``partition``, ``t_min``/``t_max`` (gateway receipt, Unix
  s), ``stored_s``, ``n``, ``devices``/``device_counts`` and ``body`` — the frames, zlib'd
  JSON. Kept for ``raw_retention_s`` (minutes): enough to rebuild a partition's windows.
* ``drift_rollups``: per device and 10 s chunk, one entry per second with frames (``sec``
  offsets, ``n``, ``p50``/``p95``/``max`` of ``|drift_ms|``, ``last``): ``_id`` =
  ``<device>:<chunk start>``, replaced whole, so rewriting one is harmless. Kept for
  ``retention_s``.
* ``drift_stats``: the rolling window of a device (``device:<id>``, exact nearest-rank
  percentiles — one process owns a device) and per-partition parts of a deployment's window
  (``deployment:<id>@pNN`` with ``key`` = ``deployment:<id>``), merged on read through their
  log-bucket sketches (relative error ≤ 1 %): a deployment's devices span partitions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

RAW, ROLLUPS = "telemetry_raw", "drift_rollups"
ROLLUP_CHUNK_S = 10
"""Seconds of per-second rollups in one document."""
SKETCH_GAMMA = 1.02
SKETCH_MIN_MS = 0.1
"""|drift| below this falls into bucket 0 (reported as 0)."""
_LOG_GAMMA = math.log(SKETCH_GAMMA)


def sketch_bucket(abs_ms: float) -> int:
    """Log bucket of ``abs_ms``: values within 2 % share one (0 for < 0.1 ms)."""
    if abs_ms < SKETCH_MIN_MS:
        return 0
    return 1 + int(math.log(abs_ms / SKETCH_MIN_MS) / _LOG_GAMMA)


def sketch_value(bucket: int) -> float:
    """The value a bucket stands for: the geometric middle of its bounds (≤ 1 % off)."""
    if bucket <= 0:
        return 0.0
    return SKETCH_MIN_MS * SKETCH_GAMMA ** (bucket - 0.5)


def sketch_percentile(counts: Mapping[int, int], pct: float) -> float:
    """Nearest-rank percentile of the values counted per bucket in ``counts``."""
    total = sum(counts.values())
    if total <= 0:
        return 0.0
    rank, seen = max(1, math.ceil(pct / 100.0 * total)), 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return round(sketch_value(bucket), 3)
    return round(sketch_value(max(counts)), 3)


def partial_key(key: str, partition: int) -> str:
    """``_id`` of partition ``partition``'s part of the statistics of ``key``."""
    return f"{key}@p{partition:02d}"


def merge_partials(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """One window's statistics from its per-partition parts (None for none).

    Counts add up, the maximum is the largest, the last drift is the most recent one's, and
    P50/P95 come from the summed sketches (``sketch`` = ``[[bucket, count], ...]``).
    """
    parts = [p for p in parts if p]
    if not parts:
        return None
    counts: dict[int, int] = {}
    for part in parts:
        for bucket, count in part.get("sketch") or ():
            counts[int(bucket)] = counts.get(int(bucket), 0) + int(count)
    latest = max(parts, key=lambda p: float(p.get("last_s") or 0.0))
    return {
        "count": sum(int(p.get("count") or 0) for p in parts),
        "total_frames": sum(int(p.get("total_frames") or 0) for p in parts),
        "p50_ms": sketch_percentile(counts, 50),
        "p95_ms": sketch_percentile(counts, 95),
        "max_ms": max(float(p.get("max_ms") or 0.0) for p in parts),
        "last_drift_ms": float(latest.get("last_drift_ms") or 0.0),
        "window_s": float(latest.get("window_s") or 0.0),
        "partitions": len(parts),
    }


def public_stats(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored statistics document without its storage fields."""
    return {k: v for k, v in doc.items() if k not in ("_id", "key", "sketch", "last_s")}


def rollup_points(docs: Iterable[Mapping[str, Any]], since_s: float, until_s: float) -> list:
    """Per-second points ``{t_s, count, p50_ms, p95_ms, max_ms, last_drift_ms}`` of rollup
    documents, in time order, within ``[since_s, until_s)``."""
    points = []
    for doc in docs:
        t0 = float(doc["t0_s"])
        for i, sec in enumerate(doc["sec"]):
            t_s = t0 + sec
            if since_s <= t_s < until_s:
                points.append(
                    {
                        "t_s": t_s,
                        "count": int(doc["n"][i]),
                        "p50_ms": float(doc["p50"][i]),
                        "p95_ms": float(doc["p95"][i]),
                        "max_ms": float(doc["max"][i]),
                        "last_drift_ms": float(doc["last"][i]),
                    }
                )
    points.sort(key=lambda p: p["t_s"])
    return points
