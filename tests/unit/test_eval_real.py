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


def _click_folder(tmp_path: Path, bpm: float = 120.0) -> None:
    """One 15 s click track, accented every fourth beat, with its annotation."""
    sr = 22050
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


def test_a_folder_of_annotated_audio_is_scored_per_item_and_in_json(tmp_path: Path, capsys) -> None:
    _click_folder(tmp_path)
    assert real.main(["--data", str(tmp_path), "--no-librosa", "--jobs", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("clicks_01") for line in out)
    summary = json.loads(out[-1])
    assert summary["items"] == 1
    overall = summary["figures"]["overall"]["ours"]
    assert overall["f"] > 0.9 and overall["acc1"] == 1.0
    assert summary["diagnostics"]["ours"]["no_beats"] == 0
    split = summary["diagnostics"]["ours"]["downbeat_f_by_bar_confidence"]
    assert sum(group["n"] for group in split.values()) == 1  # the one item, on one side


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
    # scored as crops, six excerpts of one ballroom recording are still one recording
    crops = agg | {"ballroom": group(0.50, 0.90, 6)}
    assert "ballroom" not in real.genres_below_librosa(crops, {"ballroom": 1, "metal": 3})
    rows = [{"id": f"w@{s}s", "genre": "ballroom"} for s in (0, 2)] + [{"id": "x", "genre": "x"}]
    assert real.recordings_per_genre(rows) == {"ballroom": 1, "x": 1}


def test_crops_score_each_excerpt_against_its_own_stretch_of_the_annotation(
    tmp_path: Path, capsys
) -> None:
    _click_folder(tmp_path)
    args = ["--data", str(tmp_path), "--no-librosa", "--jobs", "1", "--crop-s", "10"]
    assert real.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "excerpts of 10 s every 2 s" in out[0]
    summary = json.loads(out[-1])
    # a 15 s track holds 10 s excerpts starting at 0, 2 and 4 s
    assert [line.split()[0] for line in out if line.startswith("clicks_01@")] == [
        "clicks_01@0s",
        "clicks_01@2s",
        "clicks_01@4s",
    ]
    assert summary["items"] == 3 and summary["crops"]["length_s"] == 10.0
    overall = summary["figures"]["overall"]["ours"]
    assert overall["f"] > 0.9 and overall["acc1"] == 1.0


def test_crops_can_start_later_and_step_otherwise(tmp_path: Path, capsys) -> None:
    """Other excerpts of the same recordings: 10 s every 3 s from 1 s, at most two."""
    _click_folder(tmp_path)
    args = ["--data", str(tmp_path), "--no-librosa", "--jobs", "1", "--crop-s", "10"]
    extra = ["--crop-step-s", "3", "--crop-start-s", "1", "--max-crops", "2"]
    assert real.main([*args, *extra]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "excerpts of 10 s every 3 s from 1 s" in out[0]
    ids = [line.split()[0] for line in out if line.startswith("clicks_01@")]
    assert ids == ["clicks_01@1s", "clicks_01@4s"]
    assert json.loads(out[-1])["crops"]["start_s"] == 1.0
    assert real.Crops(10.0, 3.0, 6, 1.0).starts_s(15.0) == [1.0, 4.0]  # 7 s would end at 17 s
    assert real.main([*args, "--crop-start-s", "-1"]) == 2
    assert "--crop-start-s >= 0" in capsys.readouterr().err


def test_crop_options_that_cannot_score_are_refused(tmp_path: Path, capsys) -> None:
    _click_folder(tmp_path)
    base = ["--data", str(tmp_path), "--no-librosa", "--jobs", "1"]
    assert real.main([*base, "--crop-s", "4"]) == 2  # all inside the ignored first 5 s
    assert "must exceed" in capsys.readouterr().err
    assert real.main([*base, "--crop-s", "60"]) == 2  # longer than the recording
    assert "no excerpt of that length" in capsys.readouterr().err


def test_a_cropped_reference_is_shifted_and_keeps_its_bars() -> None:
    ref = _reference(120.0, seconds=30.0)  # beats at 0.5, 1.0, ...; downbeats at 0.5, 2.5, ...
    crop = rm.crop_reference(ref, 10.0, 10.0)
    assert crop is not None
    assert crop.beats_s[0] == pytest.approx(0.0) and crop.beats_s[-1] == pytest.approx(9.5)
    assert crop.bpm == pytest.approx(120.0)
    assert crop.downbeats_s is not None
    np.testing.assert_allclose(crop.downbeats_s, [0.5, 2.5, 4.5, 6.5, 8.5])
    assert rm.crop_reference(ref, 40.0, 10.0) is None
