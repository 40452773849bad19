"""``make eval``: render the corpus (cached), score our engine and plain librosa, print tables.

Usage: ``python -m tools.eval.run [--jobs N] [--only SUBSTRING] [--no-librosa] [--variants N]``.
The last line printed is one JSON object with every figure.

``--variants N`` scores ``N`` re-seeded renditions of every song instead of the corpus itself
(other compositions of the same styles, at 0.93x, 1.07x and 1.0x the tempo in turn): a
stand-in for rendered songs the engine was not tuned on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from tools.eval.corpus import CORPUS, SongSpec, variants
from tools.eval.metrics import beat_scores, downbeat_f, mean_offset_s, reference_tempo, tempo_ok
from tools.eval.render import render_cached
from tools.eval.report import print_report

TARGETS = {"f": 0.90, "cemgil": 0.70, "downbeat_f": 0.75, "tempo_ok": 0.90}


def _load_events(path: Path) -> np.ndarray:
    return np.loadtxt(path, ndmin=1)


def evaluate_song(spec: SongSpec, with_librosa: bool = True) -> dict:
    """All figures for one song, ours and (optionally) librosa's."""
    from tools.eval.engine import run_librosa, run_ours

    wav, beats_txt, downbeats_txt = render_cached(spec)
    ref, ref_down = _load_events(beats_txt), _load_events(downbeats_txt)
    ref_bpm = reference_tempo(ref)
    ours = run_ours(wav)
    row = {
        "song": spec.name,
        "class": spec.klass,
        "ref_bpm": ref_bpm,
        "ours": {
            **beat_scores(ref, ours.beat_times_s),
            "downbeat_f": downbeat_f(ref_down, ours.downbeat_times_s),
            "tempo_ok": tempo_ok(ref_bpm, ours.bpm),
            "bpm": ours.bpm,
            "offset_ms": 1000 * mean_offset_s(ref, ours.beat_times_s),
            "meter": ours.beats_per_bar,
        },
    }
    if with_librosa:
        lb, lbpm = run_librosa(wav)
        row["librosa"] = {
            **beat_scores(ref, lb),
            "downbeat_f": None,
            "tempo_ok": tempo_ok(ref_bpm, lbpm),
            "bpm": lbpm,
            "offset_ms": 1000 * mean_offset_s(ref, lb),
        }
    return row


def _render(spec: SongSpec) -> None:
    render_cached(spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--only", default="", help="evaluate songs whose name contains this")
    ap.add_argument("--no-librosa", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print one line per song")
    ap.add_argument(
        "--variants",
        type=int,
        default=0,
        metavar="N",
        help="score N re-seeded renditions of every song instead of the corpus itself",
    )
    args = ap.parse_args(argv)
    if args.variants < 0:
        ap.error(f"--variants must be 0 or more, got {args.variants}")
    corpus = variants(args.variants) if args.variants else CORPUS
    specs = [s for s in corpus if args.only in s.name]
    if not specs:
        ap.error(f"no song name contains {args.only!r}")
    if args.variants:
        print(f"{len(specs)} re-seeded renditions ({args.variants} per song), not the corpus")
    cache_dir = _fresh_numba_cache(warm=not args.no_librosa)
    try:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(_render, specs))
            rows = list(pool.map(evaluate_song, specs, [not args.no_librosa] * len(specs)))
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    summary = print_report(rows, verbose=args.verbose, targets=TARGETS)
    print(json.dumps(summary, sort_keys=True))
    return 0


def _fresh_numba_cache(*, warm: bool) -> str:
    """librosa's JIT kernels are cached on disk (numba ``cache=True``, next to librosa by
    default). Two eval workers compiling them at the same moment once left a cache that
    segfaulted every later load until it was thrown away (seen 2026-11-22). So each run
    compiles into a fresh directory of its own, once, in this process before the workers
    fork; the workers only read it."""
    if "numba" in sys.modules:
        raise RuntimeError("numba was imported before its cache directory could be set")
    cache_dir = tempfile.mkdtemp(prefix="k1-eval-numba-")
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    if warm:
        import librosa

        clicks = np.zeros(22050 * 4, dtype=np.float32)
        clicks[::11025] = 1.0
        librosa.beat.beat_track(y=clicks, sr=22050)
    return cache_dir


if __name__ == "__main__":
    raise SystemExit(main())
