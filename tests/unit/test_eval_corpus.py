"""``make eval VARIANTS=n``: re-seeded renditions of the synthetic corpus."""

from __future__ import annotations

import numpy as np
import pytest

from tools.eval import run
from tools.eval.corpus import CORPUS, beat_grid, variants


def test_variants_are_other_compositions_of_every_song_at_nearby_tempi() -> None:
    out = variants(3)
    assert len(out) == 3 * len(CORPUS)
    assert len({v.name for v in out}) == len(out)
    assert not {v.seed for v in out} & {s.seed for s in CORPUS}
    by_name = {s.name: s for s in CORPUS}
    for k, factor in ((1, 0.93), (2, 1.07), (3, 1.0)):
        for v in out[(k - 1) * len(CORPUS) : k * len(CORPUS)]:
            song = by_name[v.name.removesuffix(f"_v{k}")]
            assert v.style == song.style and v.klass == song.klass
            assert v.beats_per_bar == song.beats_per_bar
            assert v.bpm_start == pytest.approx(song.bpm_start * factor)
            if song.bpm_end is not None:
                assert v.bpm_end == pytest.approx(song.bpm_end * factor)


def test_a_variants_reference_grid_follows_its_tempo() -> None:
    song = next(s for s in CORPUS if s.name == "steady_rock_96")
    faster = next(v for v in variants(2) if v.name == "steady_rock_96_v2")
    beats, downbeats = beat_grid(faster)
    assert np.median(np.diff(beats)) == pytest.approx(60.0 / (96.0 * 1.07))
    assert np.allclose(downbeats, beats[:: song.beats_per_bar])


def test_no_variants_is_empty_and_a_negative_count_is_refused() -> None:
    assert variants(0) == ()
    with pytest.raises(ValueError, match="0 or more"):
        variants(-1)


def test_the_command_refuses_a_negative_count_and_an_empty_selection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(["--variants", "-2"])
    assert exc.value.code == 2
    assert "--variants must be 0 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run.main(["--only", "no-such-song"])
    assert exc.value.code == 2
    assert "no song name contains 'no-such-song'" in capsys.readouterr().err
