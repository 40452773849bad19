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
    import services.analyzer.domain.analysis
    import services.analyzer.domain.genesis  # noqa: F401


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes (spawn: safe next to a running event loop)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_warm_up
    )


def analyse_file(path: str, *, max_duration_s: float) -> tuple[bytes, dict]:
    """Decode and analyse the audio at ``path``: the analysis artefact as JSON bytes and a
    summary (bpm, beat_count, duration_ms, warnings). Raises ``AnalysisError`` subclasses for
    input the analysis refuses."""
    from services.analyzer.domain.analysis import analyze_file

    analysis = analyze_file(path, max_duration_s=max_duration_s)
    summary = {
        "bpm": float(analysis.rhythm.bpm),
        "beat_count": int(len(analysis.rhythm.beat_times_s)),
        "duration_ms": round(analysis.duration_s * 1000.0, 1),
        "warnings": list(analysis.warnings),
    }
    return json.dumps(analysis.to_artifact(), separators=(",", ":")).encode(), summary


def build_map_and_picture(
    artefact: bytes,
    *,
    preset: str,
    filename: str,
    audio_sha256: str,
    title: str,
    timestamp_utc: datetime,
) -> tuple[bytes, bytes]:
    """The sealed Genesis Map (JSON bytes) and its PNG picture from an analysis artefact."""
    from contracts.canonical import canonical_json
    from services.analyzer.domain.analysis import Analysis
    from services.analyzer.domain.genesis import build_map
    from services.analyzer.domain.plot import render_png

    analysis = Analysis.from_artifact(json.loads(artefact))
    genesis_map = build_map(
        analysis,
        preset=preset,
        filename=filename,
        audio_sha256=audio_sha256,
        timestamp_utc=timestamp_utc,
    )
    return canonical_json(genesis_map), render_png(analysis, title=title)


class AnalysisPool:
    """The process pool, rebuilt when a worker process dies (a broken pool refuses all work)
    and retired for a fresh one after ``tasks_per_worker`` calls per process.

    A long-lived analysis process grows by tens of MB over its first hundred tracks
    (matplotlib's and numpy's caches, allocator fragmentation). ``ProcessPoolExecutor``'s own
    ``max_tasks_per_child`` would bound that, but on Python 3.11 it can stop replacing exited
    workers and hang queued work (CPython gh-115634), so the whole pool is swapped instead: new
    calls go to a fresh pool and the old one finishes what it holds, then its processes exit.
    """

    def __init__(self, workers: int, *, tasks_per_worker: int | None = None) -> None:
        self.workers, self.tasks_per_worker = workers, tasks_per_worker
        self._pool = make_pool(workers)
        self._calls = 0
        self.generation = 1
        """How many pools this one has used (a retired or broken pool counts)."""

    def _replace(self, old: ProcessPoolExecutor, *, cancel: bool) -> None:
        if self._pool is old:  # concurrent callers of a broken pool replace it once
            self._pool, self._calls = make_pool(self.workers), 0
            self.generation += 1
            old.shutdown(wait=False, cancel_futures=cancel)

    async def run(self, fn, /, *args, **kwargs):
        import asyncio
        import functools
        from concurrent.futures.process import BrokenProcessPool

        pool = self._pool
        loop = asyncio.get_running_loop()
        try:
            done = loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))
            self._calls += 1
            if self.tasks_per_worker and self._calls >= self.tasks_per_worker * self.workers:
                self._replace(pool, cancel=False)  # this call was the old pool's last one
            return await done
        except BrokenProcessPool:
            self._replace(pool, cancel=True)
            raise

    def warm_up(self) -> None:
        """Start every worker process now so the first track does not pay for it."""
        for future in [self._pool.submit(_warm_up) for _ in range(self.workers)]:
            future.result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
