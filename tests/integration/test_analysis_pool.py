"""The analyzer's process pool: processes are replaced after their quota of calls (bounding a
long-lived process's memory), without losing or hanging work, and a crashed process does not
leave the pool refusing everything."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from services.analyzer.work import AnalysisPool

pytestmark = pytest.mark.integration


async def test_a_process_is_replaced_after_its_quota_of_calls():
    pool = AnalysisPool(1, tasks_per_worker=2)
    try:
        pids = [await pool.run(os.getpid) for _ in range(5)]
    finally:
        pool.shutdown()
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert os.getpid() not in pids and pool.generation == 3


async def test_a_backlog_larger_than_the_quota_all_completes():
    """Python 3.11's own max_tasks_per_child hangs here (CPython gh-115634)."""
    pool = AnalysisPool(2, tasks_per_worker=1)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(pool.run(pow, n, 2) for n in range(12))), timeout=120
        )
    finally:
        pool.shutdown()
    assert results == [n * n for n in range(12)]


async def test_a_crashed_process_fails_its_call_and_the_next_call_works():
    pool = AnalysisPool(1)
    try:
        with pytest.raises(BrokenProcessPool):
            await pool.run(os._exit, 3)
        assert await pool.run(pow, 3, 3) == 27
    finally:
        pool.shutdown()
