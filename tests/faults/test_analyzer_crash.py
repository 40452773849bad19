"""kill -9 the only analyzer in the middle of analysing a 4-minute track, keep it down past the
reconciler's timeout (so the track is re-announced while its first delivery is still unacked),
then restart it: every track reaches ``ready`` with exactly one current map."""

from __future__ import annotations

import signal
import time

import pytest

from services.validator.domain.rules import validate_map
from tests.e2e.songs import click_song
from tests.faults.conftest import STUCK_AFTER_S

pytestmark = pytest.mark.faults


def _wait_for(predicate, *, timeout_s: float, step_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError("condition not met in time")


def test_analyzer_killed_mid_analysis(fault_stack):
    fs = fault_stack
    long_id = fs.upload("four-minutes.wav", click_song(bpm=124, seconds=240, seed=1))
    queued = [
        fs.upload(f"queued{i}.wav", click_song(bpm=100 + 9 * i, seed=20 + i)) for i in range(2)
    ]
    _wait_for(
        lambda: (t := fs.track(long_id)) is not None and t.status == "analyzing", timeout_s=60
    )
    fs.stack.stop_service("analyzer", sig=signal.SIGKILL)
    assert fs.track(long_id).status == "analyzing", "the kill missed the analysis"

    # Down for longer than the reconciler waits: it re-announces the stuck track.
    _wait_for(
        lambda: fs.tap.matching("re-announced", long_id), timeout_s=STUCK_AFTER_S + 15, step_s=0.2
    )
    fs.stack.start_service("analyzer")
    fs.stack.wait_ready(timeout_s=90, names=("analyzer",))

    summary = fs.assert_nothing_lost()
    print("\n".join(fs.tap.matching(long_id, "handled") + fs.tap.matching(long_id, "re-announced")))
    assert summary["songs"] == summary["tracks"] == summary["ready"] == 3, summary
    assert set(fs.ledger.sent.values()) == {long_id, *queued}
    record = fs.run(lambda: fs.docs.analyses.get(long_id, 1))
    raw = fs.s3.get_object(fs.bucket, record.map_key).read()
    track = fs.track(long_id)
    assert validate_map(raw, expected_audio_sha256=track.audio_sha256).ok
    # the map the validator accepted is the one stored: a duplicate job rebuilt the same bytes
    assert fs.run(lambda: fs.docs.analyses.list_for_track(long_id))[-1].version == 1
    assert track.map_key == record.map_key
