"""``k1 upload`` against a fake gateway: the journey, then the result a light designer checks."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from k1 import cmd_upload
from k1.cli import build_parser

TRACK = "a1b2c3d4e5f6a7b8"
MAP = {
    "layers": {
        "rhythm": {"beat_grid_ms": [500.0, 1000.0], "beats_per_bar": 4, "time_signature": "4/4"},
        "annotations": {
            "sections": [
                {"label": "intro", "start_ms": 0, "end_ms": 15000},
                {"label": "drop", "start_ms": 15000, "end_ms": 62000},
                {"label": "outro", "start_ms": 62000, "end_ms": 70000},
            ]
        },
    }
}


def _state(status: str, stage: str, pct: float, **extra) -> dict:
    return {"track_id": TRACK, "status": status, "stage": stage, "progress_pct": pct, **extra}


def _analysis(**extra) -> dict:
    base = f"/api/v1/tracks/{TRACK}"
    return {
        "version": 1,
        "bpm": 123.04,
        "warnings": [],
        "map_url": f"{base}/genesis-map?version=1",
        "picture_url": f"{base}/picture.png?version=1",
        **extra,
    }


class FakeGateway:
    """Accepts one upload, then answers GET /tracks/{id} with each state in turn."""

    def __init__(self, states: list[dict], genesis_map: dict | None = MAP) -> None:
        self.states, self.genesis_map, self.uploaded = list(states), genesis_map, b""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        path = request.url.path
        if request.method == "POST" and path == "/api/v1/tracks":
            self.uploaded = request.read()
            return httpx.Response(202, json={"track_id": TRACK, "duplicate": False})
        if path == f"/api/v1/tracks/{TRACK}":
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return httpx.Response(200, json=state)
        if path.endswith("/genesis-map") and self.genesis_map is not None:
            assert request.url.params["version"] == "1"
            return httpx.Response(200, json=self.genesis_map)
        return httpx.Response(404, json={"error": "not_found", "detail": path})


def _upload(tmp_path, gateway: FakeGateway) -> int:
    song = tmp_path / "groove.wav"
    song.write_bytes(b"RIFF" + bytes(1000))
    args = build_parser().parse_args(
        ["upload", str(song), "--url", "http://k1.test", "--token", "tok", "--timeout", "5"]
    )
    return cmd_upload.run(args, transport=httpx.MockTransport(gateway))


def test_a_ready_track_ends_with_tempo_meter_sections_and_links(tmp_path, capsys):
    gateway = FakeGateway(
        [
            _state("analyzing", "rhythm", 40.0),
            _state("ready", "done", 100.0, warnings=[], analysis=_analysis()),
        ]
    )
    assert _upload(tmp_path, gateway) == 0
    assert gateway.uploaded == b"RIFF" + bytes(1000)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"groove.wav: track {TRACK}"
    assert "analyzing" in out[1] and "ready" in out[2] and "100.0%" in out[2]
    result = "\n".join(out[3:])
    assert out[3] == "result: ready"
    assert re.search(r"tempo\s+123\.0 BPM", result)
    assert re.search(r"meter\s+4/4", result)
    assert re.search(r"sections\s+3: intro 0:00, drop 0:15, outro 1:02", result)
    assert f"http://k1.test/api/v1/tracks/{TRACK}/genesis-map?version=1" in result
    assert f"http://k1.test/api/v1/tracks/{TRACK}/picture.png?version=1" in result
    # not a terminal (captured): the dashboard link does not carry the token
    assert re.search(rf"dashboard\s+http://k1\.test/\?track={TRACK}$", result, re.M)
    assert "tok" not in result


def test_a_failed_track_exits_1_and_says_why(tmp_path, capsys):
    failed = _state("failed", "decoding", 10.0, error_reason="audio has NaN samples")
    assert _upload(tmp_path, FakeGateway([failed], genesis_map=None)) == 1
    out = capsys.readouterr().out
    assert "result: failed" in out and "reason     audio has NaN samples" in out
    assert "tempo" not in out and "map " not in out


def test_a_map_that_cannot_be_read_still_shows_the_rest(tmp_path, capsys):
    flagged = _state(
        "warning", "done", 100.0, warnings=["no downbeats"], analysis=_analysis(bpm=90.0)
    )
    assert _upload(tmp_path, FakeGateway([flagged], genesis_map=None)) == 0
    out = capsys.readouterr().out
    assert "result: warning" in out and "90.0 BPM" in out and "no downbeats" in out
    assert "meter" not in out and "sections" not in out and "genesis-map" in out


def test_on_a_terminal_the_dashboard_link_signs_in(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    ready = _state("ready", "done", 100.0, analysis=_analysis())
    assert _upload(tmp_path, FakeGateway([ready])) == 0
    assert f"http://k1.test/?track={TRACK}#token=tok" in capsys.readouterr().out


@pytest.mark.parametrize("status, detail", [(415, "not audio"), (413, "too large")])
def test_a_refusal_is_one_line_and_exit_2(tmp_path, capsys, status, detail):
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps({"detail": detail}))

    song = tmp_path / "junk.mp3"
    song.write_bytes(b"junk")
    args = build_parser().parse_args(["upload", str(song), "--url", "http://x", "--token", "t"])
    assert cmd_upload.run(args, transport=httpx.MockTransport(refuse)) == 2
    assert capsys.readouterr().err == f"k1: error: junk.mp3 refused ({status}): {detail}\n"


def test_bar_lines_the_map_is_unsure_of_are_called_uncertain(tmp_path, capsys):
    unsure = MAP | {"metadata": {"analysis_config": {"bar_confidence": 0.2}}}
    ready = _state("ready", "done", 100.0, warnings=[], analysis=_analysis())
    assert _upload(tmp_path, FakeGateway([ready], genesis_map=unsure)) == 0
    assert re.search(r"meter\s+4/4 \(bar lines uncertain\)$", capsys.readouterr().out, re.M)
    sure = MAP | {"metadata": {"analysis_config": {"bar_confidence": 0.7}}}
    assert _upload(tmp_path, FakeGateway([ready], genesis_map=sure)) == 0
    assert re.search(r"meter\s+4/4$", capsys.readouterr().out, re.M)
