"""``make eval-real``: scoring conventions, error diagnostics and the command's behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tools.eval import real
from tools.eval import real_metrics as rm


def _reference(bpm: float = 120.0, seconds: float = 30.0, meter: int = 4) -> rm.Reference:
    beats = np.arange(0.5, seconds, 60.0 / bpm)
    text = "\n".join(f"{t:.3f}\t{i % meter + 1}" for i, t in enumerate(beats))
    return rm.read_reference(text)


def test_beats_in_the_first_five_seconds_are_ignored() -> None:
    ref = _reference()
    late_only = ref.beats_s[ref.beats_s >= 5.0]
    assert rm.beat_scores(ref, late_only)["f"] == pytest.approx(1.0)
    assert rm.beat_scores(ref, ref.beats_s[ref.beats_s < 5.0])["f"] == 0.0


def test_an_empty_estimate_scores_zero_not_an_error() -> None:
    assert rm.beat_scores(_reference(), np.zeros(0)) == {
        "f": 0.0,
        "cemgil": 0.0,
        "cmlt": 0.0,
        "amlt": 0.0,
    }


def test_tempo_accuracy_one_and_two() -> None:
    assert rm.tempo_scores(100.0, 103.0) == {"acc1": 1.0, "acc2": 1.0}
    assert rm.tempo_scores(100.0, 200.0) == {"acc1": 0.0, "acc2": 1.0}
    assert rm.tempo_scores(100.0, 33.4) == {"acc1": 0.0, "acc2": 1.0}
    assert rm.tempo_scores(100.0, 150.0) == {"acc1": 0.0, "acc2": 0.0}
    assert rm.tempo_octave(100.0, 49.0) == "x1/2" and rm.tempo_octave(100.0, 150.0) == "x3/2"


def test_diagnostics_name_the_error() -> None:
    ref = _reference()
    half_beat = 0.25
    assert rm.offbeat_share(ref, ref.beats_s + half_beat) == pytest.approx(1.0)
    assert rm.offbeat_share(ref, ref.beats_s) == 0.0
    assert rm.median_offset_ms(ref, ref.beats_s - 0.02) == pytest.approx(-20.0, abs=0.5)
    on_three = ref.beats_s[2::4]
    positions = rm.downbeat_positions(ref, on_three)
    assert set(positions) == {"3"} and positions["3"] == np.sum(on_three >= 5.0)
    assert rm.downbeat_f(ref, on_three) == 0.0
    assert rm.downbeat_f(ref, ref.beats_s[0::4]) == pytest.approx(1.0)
    assert rm.annotated_meter(_reference(meter=3)) == 3


def test_a_beats_only_annotation_has_no_downbeat_score() -> None:
    ref = rm.read_reference("0.5\n1.0\n1.5\n2.0\n")
    assert ref.positions is None and rm.downbeat_f(ref, np.array([1.0])) is None
    with pytest.raises(ValueError, match="line 2"):
        rm.read_reference("0.5\nabc\n")


def test_missing_folder_exits_non_zero_and_says_so(tmp_path: Path, capsys) -> None:
    assert real.main(["--data", str(tmp_path / "nowhere"), "--no-librosa"]) == 2
    assert "no annotated recordings" in capsys.readouterr().err


def test_a_folder_of_annotated_audio_is_scored_per_item_and_in_json(tmp_path: Path, capsys) -> None:
    sr, bpm = 22050, 120.0
    ref = _reference(bpm, seconds=14.0)
    y = np.zeros(int(15 * sr), dtype=np.float32)
    click = np.random.default_rng(0).standard_normal(400) * np.exp(-np.arange(400) / 60)
    for i, t in enumerate(ref.beats_s):
        y[int(t * sr) : int(t * sr) + 400] += (1.0 if i % 4 == 0 else 0.5) * click
    (tmp_path / "audio").mkdir()
    (tmp_path / "annotations").mkdir()
    sf.write(tmp_path / "audio" / "clicks_01.wav", 0.5 * y, sr)
    (tmp_path / "annotations" / "clicks_01.beats").write_text(
        "\n".join(f"{t:.4f} {i % 4 + 1}" for i, t in enumerate(ref.beats_s))
    )
    assert real.main(["--data", str(tmp_path), "--no-librosa", "--jobs", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("clicks_01") for line in out)
    summary = json.loads(out[-1])
    assert summary["items"] == 1
    overall = summary["figures"]["overall"]["ours"]
    assert overall["f"] > 0.9 and overall["acc1"] == 1.0
    assert summary["diagnostics"]["ours"]["no_beats"] == 0


def test_the_targets_line_names_each_genre_that_trails_librosa() -> None:
    def group(ours: float, lib: float, n: int) -> dict:
        return {"ours": {"f": ours, "n": n}, "librosa": {"f": lib, "n": n}}

    agg = {
        "metal": group(0.67, 0.73, 3),
        "classical": group(0.69, 0.69, 3),
        "rock": group(0.90, 0.57, 3),
        "ballroom": group(0.50, 0.90, 1),  # too few items to count
        "overall": group(0.87, 0.75, 10),
    }
    below = real.genres_below_librosa(agg)
    assert list(below) == ["classical", "metal"]  # a tie is not "above"
    met = {"f": True, "above_librosa_every_genre": not below}
    line = real.targets_line(met, below)
    assert "f met" in line
    assert "above_librosa_every_genre NOT met (classical 0.69 vs librosa 0.69, metal 0.67" in line
    assert real.genres_below_librosa({"overall": agg["overall"], "rock": agg["rock"]}) == {}
