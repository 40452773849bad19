"""Waiting for a track to finish its journey, read straight from the stack's documents."""

from __future__ import annotations

import time

TERMINAL = ("ready", "warning", "failed")


def wait_terminal(docs_reader, track_id: str, timeout_s: float = 90):
    docs, run = docs_reader
    deadline, track = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        track = run(docs.tracks.get_track(track_id))
        if track is not None and track.status in TERMINAL:
            return track
        time.sleep(0.2)
    raise AssertionError(f"track {track_id} never finished: {track}")


def until(check, *, timeout_s: float, what: str, every_s: float = 0.2):
    """The first truthy result of ``check()``, polled every ``every_s`` for ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")
