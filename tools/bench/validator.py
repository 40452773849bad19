"""Validation speed of a realistic 50 KB Genesis Map: ours vs plain pydantic, same run.

Builds a sealed map (4 minutes, ~400 beats, sampled band + intensity envelopes, sections),
times ``validate_map`` (parse + schema + hashes + semantics) and the seed-style baseline
``GenesisMapV4.model_validate_json`` (schema only) interleaved, and prints P50/P95/P99 in ms of
wall time and of the calling thread's CPU time (on a shared machine the CPU figures show the
work itself; the wall figures add whatever the scheduler adds). Ends with one JSON line of the
figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from contracts.canonical import seal_map
from contracts.genesis_map import GenesisMapV4
from services.validator.domain import validate_map

DURATION_MS = 240_000.0
LABELS = ("intro", "verse", "build", "drop", "breakdown", "drop", "outro")


def realistic_map(*, frame_rate_hz: float = 6.5, bpm: float = 100.0, seed: int = 1) -> dict:
    """A sealed map shaped like the analyzer's output, about 50 KB of JSON."""
    rng = np.random.default_rng(seed)
    beats = np.round(500.0 + np.arange(int((DURATION_MS - 500) * bpm / 60_000)) * 60_000 / bpm, 1)
    frames = int(DURATION_MS * frame_rate_hz / 1000) + 1

    def envelope() -> dict:
        values = np.round(rng.random(frames), 3)
        return {"start_ms": 0.0, "frame_rate_hz": frame_rate_hz, "values": values.tolist()}

    bounds = np.linspace(0, DURATION_MS, len(LABELS) + 1).round().tolist()
    return seal_map(
        {
            "metadata": {
                "filename": "song.wav",
                "analysis_engine": "k1-genesis",
                "timestamp_utc": "2025-10-31T12:00:00Z",
                "version": "4.0.0",
                "hashes": {"audio_sha256": hashlib.sha256(b"song.wav").hexdigest()},
                "analysis_config": {"sr": 22050},
            },
            "global_metrics": {
                "duration_ms": DURATION_MS,
                "bpm": bpm,
                "f_measure": 0.9,
                "cemgil": 0.7,
            },
            "layers": {
                "rhythm": {
                    "beat_grid_ms": beats.tolist(),
                    "downbeat_ms": beats[::4].tolist(),
                    "beat_strength": np.round(rng.random(beats.size), 3).tolist(),
                    "beats_per_bar": 4,
                },
                "frequency": {"bass": envelope(), "mids": envelope(), "highs": envelope()},
                "annotations": {
                    "sections": [
                        {"start_ms": a, "end_ms": b, "label": label, "energy": 0.5}
                        for a, b, label in zip(bounds, bounds[1:], LABELS, strict=False)
                    ],
                    "drops_ms": [bounds[3]],
                },
                "choreography": {
                    "preset": "edm_high_energy",
                    "intensity": envelope(),
                    "palette": ["#ff2200", "#0044ff"],
                },
            },
        }
    )


def _percentiles_ms(seconds: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(np.array(seconds) * 1000.0, [50, 95, 99])
    return {
        "p50_ms": round(float(p50), 4),
        "p95_ms": round(float(p95), 4),
        "p99_ms": round(float(p99), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    args = parser.parse_args()
    raw = json.dumps(realistic_map(), separators=(",", ":")).encode()
    report = validate_map(raw)
    assert report.ok and report.outcome == "ready", report
    ours, baseline, ours_cpu, baseline_cpu = [], [], [], []
    wall, cpu = time.perf_counter, time.thread_time
    for _ in range(200):  # warm-up
        validate_map(raw), GenesisMapV4.model_validate_json(raw)
    for _ in range(args.runs):
        start, start_cpu = wall(), cpu()
        validate_map(raw)
        middle, middle_cpu = wall(), cpu()
        GenesisMapV4.model_validate_json(raw)
        end, end_cpu = wall(), cpu()
        ours.append(middle - start)
        baseline.append(end - middle)
        ours_cpu.append(middle_cpu - start_cpu)
        baseline_cpu.append(end_cpu - middle_cpu)
    beats = len(json.loads(raw)["layers"]["rhythm"]["beat_grid_ms"])
    figures = {
        "map_bytes": len(raw),
        "beats": beats,
        "runs": args.runs,
        "ours": _percentiles_ms(ours),
        "baseline_pydantic": _percentiles_ms(baseline),
        "ours_cpu": _percentiles_ms(ours_cpu),
        "baseline_pydantic_cpu": _percentiles_ms(baseline_cpu),
    }
    figures["p95_ratio_ours_over_baseline"] = round(
        figures["ours"]["p95_ms"] / figures["baseline_pydantic"]["p95_ms"], 3
    )
    figures["target_p95_ms"] = 1.0
    figures["meets_target"] = figures["ours"]["p95_ms"] <= 1.0
    print(f"map: {len(raw)} bytes, {args.runs} runs each, interleaved")
    for name in ("ours", "baseline_pydantic", "ours_cpu", "baseline_pydantic_cpu"):
        f = figures[name]
        print(
            f"{name:>22}: P50 {f['p50_ms']:.3f} ms  P95 {f['p95_ms']:.3f} ms  "
            f"P99 {f['p99_ms']:.3f} ms"
        )
    print(
        "  (ours = parse + schema + hashes + semantics; baseline = pydantic schema only;"
        " _cpu = thread CPU time)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
