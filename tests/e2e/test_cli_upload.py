"""`k1 upload` against the running stack: the journey is shown live and the exit code tells."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from tests.e2e.songs import click_song, nan_in_the_middle

pytestmark = pytest.mark.e2e


def _k1_upload(stack, path, tmp_path):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "k1.cli",
            "upload",
            str(path),
            "--url",
            stack.gateway_url,
            "--token",
            stack.token("operator"),
            "--run-json",
            str(tmp_path / "none.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upload_shows_the_journey_until_ready(e2e_stack, tmp_path):
    stack, _ = e2e_stack
    song = tmp_path / "groove.wav"
    song.write_bytes(click_song(bpm=123, seed=42))
    done = _k1_upload(stack, song, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("groove.wav: track ")
    track_id = lines[0].split()[-1]
    journey = lines[1 : lines.index("result: ready")]
    assert any("analyzing" in line for line in journey) or "ready" in journey[0]
    assert "ready" in journey[-1] and "100.0%" in journey[-1]
    result = dict(line.split(None, 1) for line in lines[len(journey) + 2 :])
    assert 118 <= float(result["tempo"].split()[0]) <= 128
    # a click track's bars have nothing but an accent to go by: they may be called uncertain
    assert re.fullmatch(r"(4/4|3/4|6/8)( \(bar lines uncertain\))?", result["meter"])
    assert result["sections"][0].isdigit()
    for name, path in (("map", "genesis-map"), ("picture", "picture.png")):
        url = result[name]
        assert url.startswith(f"{stack.gateway_url}/api/v1/tracks/{track_id}/{path}?version=")
        got = httpx.get(url, headers={"Authorization": f"Bearer {stack.token('viewer')}"})
        assert got.status_code == 200
    assert result["dashboard"] == f"{stack.gateway_url}/?track={track_id}"


def test_upload_of_corrupt_audio_exits_1_with_the_reason(e2e_stack, tmp_path):
    stack, _ = e2e_stack
    broken = tmp_path / "broken.wav"
    broken.write_bytes(nan_in_the_middle())
    done = _k1_upload(stack, broken, tmp_path)
    assert done.returncode == 1
    assert "failed" in done.stdout and "NaN" in done.stdout
    assert "result: failed" in done.stdout and "tempo" not in done.stdout


def test_upload_refused_at_the_door_exits_2_with_one_line(e2e_stack, tmp_path):
    stack, _ = e2e_stack
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio at all" * 100)
    done = _k1_upload(stack, junk, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("k1: error: junk.mp3 refused (415)")
    assert "Traceback" not in done.stderr


def test_upload_without_a_stack_says_how_to_start_one(tmp_path):
    song = tmp_path / "a.wav"
    song.write_bytes(b"x")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "k1.cli",
            "upload",
            str(song),
            "--run-json",
            str(tmp_path / "missing.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "make run" in done.stderr
