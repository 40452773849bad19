"""``k1 analyze``: a map for every format, optional picture and reference.

Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from contracts.canonical import compute_map_sha256
from contracts.genesis_map import GenesisMapV4
from k1.cli import main

SR = 44100
ROOT = Path(__file__).resolve().parents[3]


def _beat_track(seconds: float = 12.0, bpm: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(0.15 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 40)) * t) * np.exp(-t * 20)
    x = np.zeros(int(seconds * SR))
    beats = np.arange(0.5, seconds - 0.5, 60.0 / bpm)
    for b in beats:
        i = int(b * SR)
        x[i : i + len(kick)] += kick
    return (0.8 * x / np.abs(x).max()).astype(np.float32), beats


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> tuple[Path, np.ndarray]:
    x, beats = _beat_track()
    path = tmp_path_factory.mktemp("cli") / "song.wav"
    sf.write(path, np.stack([x, x], axis=1), SR)
    return path, beats


@pytest.mark.parametrize(
    "fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")]
)
def test_analyze_writes_a_valid_map_for_every_format(tmp_path, fmt, ext, capsys):
    x, _ = _beat_track()
    audio = tmp_path / f"song.{ext}"
    sf.write(audio, x, SR, format=fmt)
    out = tmp_path / "map.json"
    assert main(["analyze", str(audio), "-o", str(out)]) == 0
    m = json.loads(out.read_bytes())
    GenesisMapV4.model_validate(m)
    assert m["metadata"]["hashes"]["map_sha256"] == compute_map_sha256(m)
    assert m["metadata"]["filename"] == f"song.{ext}"
    assert "wrote" in capsys.readouterr().err


def test_hash_preset_plot_and_reference(song, tmp_path):
    path, beats = song
    ref = tmp_path / "beats.txt"
    ref.write_text("# beat times\n" + "\n".join(f"{b:.4f}\t1" for b in beats) + "\n")
    out, png = tmp_path / "m.json", tmp_path / "m.png"
    code = main(
        [
            "analyze",
            str(path),
            "-o",
            str(out),
            "--preset",
            "chill",
            "--reference",
            str(ref),
            "--plot",
            str(png),
            "--quiet",
        ]
    )
    assert code == 0
    m = json.loads(out.read_text())
    import hashlib

    assert m["metadata"]["hashes"]["audio_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert m["layers"]["choreography"]["preset"] == "chill"
    assert m["metadata"]["analysis_config"]["metrics_source"] == "reference"
    assert 0.0 <= m["global_metrics"]["f_measure"] <= 1.0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "content,code_word",
    [
        (b"", "empty"),
        (b"this is not audio at all" * 20, "not_audio"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, content, code_word):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    assert main(["analyze", str(bad), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("k1: error:") and code_word in err
    assert not (tmp_path / "m.json").exists()


def test_too_short_truncated_and_missing(tmp_path, capsys):
    short = io.BytesIO()
    sf.write(short, np.zeros(SR, np.float32), SR, format="WAV")
    cases = {"short.wav": short.getvalue(), "cut.wav": None}
    x, _ = _beat_track()
    full = io.BytesIO()
    sf.write(full, x, SR, format="WAV")
    cases["cut.wav"] = full.getvalue()[: len(full.getvalue()) // 2]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert main(["analyze", str(tmp_path / name), "-o", str(tmp_path / "m.json")]) == 2
    assert main(["analyze", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "too_short" in err and "truncated" in err and "No such file" in err


def test_bad_reference_and_unwritable_output(song, tmp_path, capsys):
    path, _ = song
    ref = tmp_path / "ref.txt"
    ref.write_text("0.5\nbeat\n")
    assert (
        main(["analyze", str(path), "-o", str(tmp_path / "m.json"), "--reference", str(ref)]) == 2
    )
    assert main(["analyze", str(path), "-o", str(tmp_path / "no" / "such" / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "ref.txt:2" in err and "m.json" in err


def test_unknown_preset_is_a_usage_error(song):
    with pytest.raises(SystemExit) as info:
        main(["analyze", str(song[0]), "-o", "x.json", "--preset", "disco"])
    assert info.value.code == 2


def test_entry_point_prints_no_traceback(tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"garbage" * 100)
    done = subprocess.run(
        [sys.executable, "-m", "k1.cli", "analyze", str(bad), "-o", str(tmp_path / "m.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert (
        done.returncode == 2
        and "Traceback" not in done.stderr
        and done.stderr.startswith("k1: error:")
    )


@pytest.mark.parametrize("bar_confidence,uncertain", [(0.2, True), (0.8, False), (None, False)])
def test_the_summary_says_when_the_bar_lines_are_a_guess(bar_confidence, uncertain):
    from k1.cmd_analyze import _summary

    config = {} if bar_confidence is None else {"bar_confidence": bar_confidence}
    genesis_map = {
        "global_metrics": {"bpm": 120.0, "quality": "ok", "warnings": []},
        "layers": {
            "rhythm": {"time_signature": "4/4", "beat_grid_ms": [500.0, 1000.0]},
            "annotations": {"sections": []},
        },
        "metadata": {"analysis_config": config},
    }
    line = _summary(genesis_map, "m.json", 0.5)
    assert line.startswith("k1: wrote m.json: 120.0 BPM, 4/4")
    assert ("4/4 (bar lines uncertain), 2 beats" in line) is uncertain
