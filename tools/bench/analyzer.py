"""Analysis speed, memory and cold start: our engine (every layer + sealed map) against plain
``librosa.load`` + ``librosa.beat.beat_track``, measured in the same run on a 4-minute track.

Engine time = read + decode + every layer + sealed map. The SHA-256 of the file bytes (which the
ingest service computes while streaming the upload, and ``k1 analyze`` computes itself) is timed
apart as ``engine_<fmt>_sha256_s``. Every measurement runs in a fresh subprocess pinned to one
thread (OMP/OpenBLAS/MKL/numba = 1). Warm figures are the median of ``--runs`` runs after one
warm-up run (wall and CPU time: CPU time is the steadier figure on a shared machine); peak memory
is the subprocess's high-water mark (VmHWM); cold start is a new process from spawn to a finished
result (``k1 analyze``, which includes the SHA-256). Ends with one JSON line of figures.

    python tools/bench/analyzer.py [--runs 5] [--cold-runs 3] [--out var/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 240.0
SR = 44100
ONE_THREAD = dict.fromkeys(
    (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    ),
    "1",
)
COLD_ENGINE = "from k1.cli import main; main(['analyze', {path!r}, '-o', {out!r}, '--quiet'])"
COLD_LIBROSA = (
    "import librosa; y, sr = librosa.load({path!r}, sr=22050); librosa.beat.beat_track(y=y, sr=sr)"
)


def make_track(out_dir: Path) -> dict[str, Path]:
    """A deterministic 4-minute 44.1 kHz stereo song as WAV and MP3.

    Drums, bass and chords, in sections of different loudness.
    """
    import numpy as np
    import soundfile as sf

    paths = {"wav": out_dir / "track_4min.wav", "mp3": out_dir / "track_4min.mp3"}
    if all(p.exists() for p in paths.values()):
        return paths
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240501)
    n = int(DURATION_S * SR)
    t = np.arange(n) / SR
    spb = 60.0 / 124.0
    beat_pos = (t % spb) / spb
    beat_idx = (t // spb).astype(np.int64)
    level = np.interp(
        t,
        [0, 30, 31, 90, 91, 120, 150, 151, 210, 211, 240],
        [0.3, 0.3, 1, 1, 0.4, 0.4, 0.9, 1, 1, 0.3, 0.2],
    )
    kick = np.sin(2 * np.pi * (45 + 90 * np.exp(-beat_pos * spb * 40)) * beat_pos * spb) * np.exp(
        -beat_pos * spb * 12
    )
    snare_on = (beat_idx % 2 == 1) * np.exp(-beat_pos * spb * 25)
    noise = rng.standard_normal(n)
    hat_pos = ((t + spb / 2) % (spb / 2)) / (spb / 2)
    hats = noise * np.exp(-hat_pos * spb * 60) * 0.15
    roots = np.array([55.0, 55.0, 43.65, 49.0])[(beat_idx // 8) % 4]
    bass = 0.35 * np.sin(2 * np.pi * roots * t) * np.exp(-beat_pos * 2)
    chord = sum(0.08 * np.sin(2 * np.pi * roots * 4 * r * t) for r in (1.0, 1.26, 1.5))
    mono = level * (0.8 * kick + 0.4 * snare_on * noise + hats + bass) + 0.7 * chord
    stereo = np.stack([mono, np.roll(mono, 13)], axis=1) / (np.abs(mono).max() * 1.1)
    sf.write(paths["wav"], stereo.astype(np.float32), SR, subtype="PCM_16")
    sf.write(paths["mp3"], stereo.astype(np.float32), SR, format="MP3", subtype="MPEG_LAYER_III")
    return paths


def worker(kind: str, path: str, runs: int) -> None:
    """Run one pipeline ``runs`` times after a warm-up; print times and peak memory as JSON."""
    if kind == "engine":
        import hashlib

        from services.analyzer.domain.analysis import analyze_file
        from services.analyzer.domain.genesis import build_map

        def once() -> float:
            data = Path(path).read_bytes()
            start = time.perf_counter()
            digest = hashlib.sha256(data).hexdigest()
            sha_s = time.perf_counter() - start
            build_map(analyze_file(data), filename=path, audio_sha256=digest)
            return sha_s
    else:
        import librosa

        def once() -> float:
            y, sr = librosa.load(path, sr=22050)
            librosa.beat.beat_track(y=y, sr=sr)
            return 0.0

    once()
    wall, cpu, sha = [], [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        sha_s = once()
        wall.append(time.perf_counter() - w - sha_s)
        cpu.append(time.process_time() - c - sha_s)
        sha.append(sha_s)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "sha_s": sha, "peak_mb": _peak_mb()}))


def _peak_mb() -> float:
    """Peak resident memory of this process, MB: VmHWM (reset by exec, unlike ru_maxrss, which a
    child inherits from a large parent), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _env() -> dict[str, str]:
    return {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}


def measure_warm(kind: str, path: Path, runs: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--worker", kind, "--file", str(path), "--runs", str(runs)]
    done = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "median_s": statistics.median(figures["wall_s"]),
        "cpu_median_s": statistics.median(figures["cpu_s"]),
        "sha_s": statistics.median(figures["sha_s"]),
        "peak_mb": figures["peak_mb"],
    }


def measure_cold(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], env=_env(), cwd=ROOT, check=True, capture_output=True
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--worker", choices=("engine", "librosa"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.file, args.runs)
        return 0
    paths = make_track(args.out)
    result: dict[str, float | bool] = {"track_s": DURATION_S, "runs": args.runs}
    for fmt, path in paths.items():
        for kind in ("engine", "librosa"):
            warm = measure_warm(kind, path, args.runs)
            result[f"{kind}_{fmt}_s"] = round(warm["median_s"], 3)
            result[f"{kind}_{fmt}_cpu_s"] = round(warm["cpu_median_s"], 3)
            result[f"{kind}_{fmt}_rtf"] = round(warm["median_s"] / DURATION_S, 5)
            result[f"{kind}_{fmt}_peak_mb"] = round(warm["peak_mb"], 1)
            if kind == "engine":
                result[f"engine_{fmt}_sha256_s"] = round(warm["sha_s"], 3)
            print(
                f"{kind:8s} {fmt}: {warm['median_s']:.3f} s wall "
                f"(cpu {warm['cpu_median_s']:.3f} s), "
                f"{DURATION_S / warm['median_s']:.0f}x real time, peak {warm['peak_mb']:.0f} MB",
                file=sys.stderr,
            )
    out_json = str(args.out / "cold_map.json")
    result["engine_cold_s"] = round(
        measure_cold(COLD_ENGINE.format(path=str(paths["wav"]), out=out_json), args.cold_runs), 3
    )
    result["librosa_cold_s"] = round(
        measure_cold(COLD_LIBROSA.format(path=str(paths["wav"])), args.cold_runs), 3
    )
    print(
        f"cold start: engine {result['engine_cold_s']:.2f} s, "
        f"librosa {result['librosa_cold_s']:.2f} s",
        file=sys.stderr,
    )
    result.update(_verdicts(result))
    print(json.dumps(result))
    return 0


def _verdicts(r: dict) -> dict[str, bool]:
    """The issue's targets, each true when met."""
    return {
        "target_wav_le_0_5s": r["engine_wav_s"] <= 0.5,
        "target_not_slower_than_librosa": r["engine_wav_s"] <= r["librosa_wav_s"],
        "target_peak_lt_500mb": max(r["engine_wav_peak_mb"], r["engine_mp3_peak_mb"]) < 500,
        "target_cold_le_3s": r["engine_cold_s"] <= 3.0,
    }


if __name__ == "__main__":
    sys.exit(main())
