"""``k1 --version``, help text without stray markup, and outputs checked before analysing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from k1 import cmd_analyze, progress
from k1.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[3]


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"k1 {version('k1-song-analysis')}"


@pytest.mark.parametrize("command", ["analyze", "upload", "token", "devices"])
def test_help_has_no_stray_backticks(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and text.count("`") % 2 == 0
    assert "usage: k1 " + command in text


def test_upload_help_says_what_it_does_in_a_sentence(capsys):
    with pytest.raises(SystemExit):
        main(["upload", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "k1 upload FILE [--preset NAME]: send a song to the running stack" in text


@pytest.fixture
def no_analysis(monkeypatch):
    """Fail the test if the analysis starts: the output must be refused before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("analysed before checking the output")

    monkeypatch.setattr("services.analyzer.domain.analysis.analyze_file", refuse)


@pytest.mark.parametrize(
    "args, word",
    [
        (["-o", "/nonexistent/x.json"], "no folder /nonexistent"),
        (["-o", "{tmp}"], "is a folder"),
        (["-o", "{tmp}/m.json", "--plot", "/nonexistent/m.png"], "/nonexistent/m.png"),
    ],
)
def test_unwritable_outputs_fail_fast_with_exit_2(tmp_path, capsys, no_analysis, args, word):
    audio = tmp_path / "song.wav"
    audio.write_bytes(b"RIFF")
    argv = ["analyze", str(audio), *(a.format(tmp=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("k1: error: ") and err.count("\n") == 1 and word in err


def test_read_only_folder_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere, so a read-only folder does not stop it")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OSError, match="permission denied"):
        cmd_analyze.check_writable(str(locked / "m.json"))


def test_the_entry_point_refuses_a_missing_folder_quickly(tmp_path):
    audio = tmp_path / "song.wav"
    audio.write_bytes(b"RIFF" * 10)
    done = subprocess.run(
        [sys.executable, "-m", "k1.cli", "analyze", str(audio), "-o", "/nonexistent/x.json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr == "k1: error: /nonexistent/x.json: cannot write it: no folder /nonexistent\n"
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_draw_only_on_a_terminal(monkeypatch):
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    with progress.stage_bar("analyzing") as report:
        assert report is None
    with progress.bytes_bar("upload", 100) as advance:
        advance(100)
    assert plain.getvalue() == ""

    tty = _Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    with progress.stage_bar("analyzing") as report:
        assert report is not None
        report("rhythm", 40.0)
        report("done", 100.0)
    with progress.bytes_bar("upload song.wav", 2048) as advance:
        advance(2048)
    drawn = tty.getvalue()
    assert "analyzing" in drawn and "upload song.wav" in drawn and "100%" in drawn
    with progress.stage_bar("analyzing", enabled=False) as report:
        assert report is None


def test_parser_lists_every_command():
    text = build_parser().format_help()
    assert all(c in text for c in ("analyze", "upload", "token", "devices", "--version"))
