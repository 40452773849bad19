"""CPU work run in the analyzer's process pool (never on the event loop).

Each function takes and returns plain bytes/str so it pickles cheaply across processes.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from multiprocessing import get_context


def _warm_up() -> None:
    # Import the heavy modules once per worker process so the first track is not slower.
    import services.analyzer.domain.analysis  # noqa: F401
    import services.analyzer.domain.genesis  # noqa: F401


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes (spawn: safe next to a running event loop)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_warm_up)


def analyse_file(path: str, *, max_duration_s: float) -> tuple[bytes, dict]:
    """Decode and analyse the audio at ``path``: the analysis artefact as JSON bytes and a
    summary (bpm, beat_count, duration_ms, warnings). Raises ``AnalysisError`` subclasses for
    input the analysis refuses."""
    from services.analyzer.domain.analysis import analyze_file

    analysis = analyze_file(path, max_duration_s=max_duration_s)
    summary = {"bpm": float(analysis.rhythm.bpm), "beat_count": int(len(analysis.rhythm.beat_times_s)),
               "duration_ms": round(analysis.duration_s * 1000.0, 1),
               "warnings": list(analysis.warnings)}
    return json.dumps(analysis.to_artifact(), separators=(",", ":")).encode(), summary


def build_map_and_picture(artefact: bytes, *, preset: str, filename: str, audio_sha256: str,
                          title: str, timestamp_utc: datetime) -> tuple[bytes, bytes]:
    """The sealed Genesis Map (JSON bytes) and its PNG picture from an analysis artefact."""
    from contracts.canonical import canonical_json
    from services.analyzer.domain.analysis import Analysis
    from services.analyzer.domain.genesis import build_map
    from services.analyzer.domain.plot import render_png

    analysis = Analysis.from_artifact(json.loads(artefact))
    genesis_map = build_map(analysis, preset=preset, filename=filename, audio_sha256=audio_sha256,
                            timestamp_utc=timestamp_utc)
    return canonical_json(genesis_map), render_png(analysis, title=title)


class AnalysisPool:
    """The process pool, rebuilt when a worker process dies (a broken pool refuses all work)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = make_pool(workers)

    async def run(self, fn, /, *args, **kwargs):
        import asyncio
        import functools
        from concurrent.futures.process import BrokenProcessPool

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = make_pool(self.workers)
            raise

    def warm_up(self) -> None:
        """Start every worker process now so the first track does not pay for it."""
        for future in [self._pool.submit(_warm_up) for _ in range(self.workers)]:
            future.result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
