"""Downbeat phase: the bundled example song, harmony-driven bars, re-alignment after a glitch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mir_eval
import numpy as np
import pytest

from contracts.genesis_map import BAR_TRUSTED
from services.analyzer.domain import _downbeats
from services.analyzer.domain.audio import decode
from services.analyzer.domain.rhythm import detect_rhythm
from services.analyzer.domain.spectrum import compute_spectrogram
from services.analyzer.domain.types import ANALYSIS_SR
from tests.unit.analyzer.test_rhythm_phase import kick_snare_groove

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "example_song.ogg"
EXAMPLE_BEATS = ROOT / "examples" / "example_song.beats.txt"
SR = ANALYSIS_SR


def _f(ref: np.ndarray, est: np.ndarray) -> float:
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=0.07))


@pytest.fixture(scope="module")
def example_samples() -> np.ndarray:
    return decode(EXAMPLE).samples


def test_example_song_downbeats_match_the_reference(example_samples: np.ndarray) -> None:
    """What every user sees first: 4/4, bar lines on the reference's every fourth beat."""
    ref = np.loadtxt(EXAMPLE_BEATS)
    r = detect_rhythm(compute_spectrogram(example_samples, sr=SR))
    assert r.beats_per_bar == 4
    assert _f(ref, r.beat_times_s) >= 0.9
    assert _f(ref[::4], r.downbeat_times_s) >= 0.75


@pytest.mark.parametrize("start_beat", [9, 10, 11])
def test_example_song_downbeats_do_not_assume_the_music_starts_on_one(
    example_samples: np.ndarray, start_beat: int
) -> None:
    """Cut the song just before its 2nd, 3rd or 4th beat of a bar: the bar lines stay put."""
    ref = np.loadtxt(EXAMPLE_BEATS)
    t0 = ref[start_beat] - 0.1
    r = detect_rhythm(compute_spectrogram(example_samples[int(t0 * SR) :], sr=SR))
    ref_down = ref[::4][ref[::4] > t0 + 0.3] - t0
    assert _f(ref_down, r.downbeat_times_s) >= 0.75


def _tone(freqs_hz: tuple[float, ...], duration_s: float, amp: float) -> np.ndarray:
    t = np.arange(int(duration_s * SR)) / SR
    return amp * sum(np.sin(2 * np.pi * f * t) for f in freqs_hz) * np.exp(-t / 1.5)


def _kicks_claps_chords(*, claps_on: int, with_chords: bool, bars: int = 12) -> np.ndarray:
    """Equal kicks on every beat of a 120 BPM 4/4, a clap on every ``claps_on``-th beat from
    beat 2, and (``with_chords``) a new chord on each bar line; the first beat at 0.5 s."""
    beat = 0.5
    chords = (
        (261.6, 329.6, 392.0),
        (220.0, 261.6, 329.6),
        (174.6, 220.0, 261.6),
        (196.0, 246.9, 293.7),
    )
    y = np.zeros(int((0.5 + bars * 4 * beat + 1.0) * SR))
    rng = np.random.default_rng(3)
    for b in range(bars * 4):
        at = int((0.5 + b * beat) * SR)
        t = np.arange(int(0.08 * SR)) / SR
        kick = 0.8 * np.sin(2 * np.pi * (50 + 80 * np.exp(-t / 0.01)) * t) * np.exp(-t / 0.04)
        y[at : at + kick.size] += kick
        if b % claps_on == 1 % claps_on:
            clap = 0.9 * rng.standard_normal(t.size) * np.exp(-t / 0.02)
            y[at : at + clap.size] += clap
        if with_chords and b % 4 == 0:
            pad = _tone(chords[(b // 4) % 4], 4 * beat, 0.15)
            y[at : at + pad.size] += pad[: y.size - at]
    return y.astype(np.float32)


def test_bar_confidence_trusts_clear_bars_and_not_beats_that_are_all_alike() -> None:
    """A chord on every bar line gives confident bars; the same kicks and claps on every beat
    with no chords give bars (if any) that the map should not stress."""
    clear = detect_rhythm(
        compute_spectrogram(_kicks_claps_chords(claps_on=2, with_chords=True), sr=SR)
    )
    alike = detect_rhythm(
        compute_spectrogram(_kicks_claps_chords(claps_on=1, with_chords=False), sr=SR)
    )
    assert clear.beats_per_bar == 4 and clear.bar_confidence >= BAR_TRUSTED
    assert alike.bar_confidence < BAR_TRUSTED
    assert alike.beat_times_s.size > 40  # the beats themselves are as clear as before


def test_bar_lines_follow_the_chord_changes_not_the_loud_backbeat() -> None:
    """Equal kicks on every beat, a loud clap on 2 and 4, a new chord on each bar line."""
    y = _kicks_claps_chords(claps_on=2, with_chords=True, bars=12)
    ref = 0.5 + np.arange(12 * 4) * 0.5
    r = detect_rhythm(compute_spectrogram(y, sr=SR))
    assert r.beats_per_bar == 4
    assert _f(ref[::4], r.downbeat_times_s) >= 0.9


@pytest.mark.parametrize("bpm", [90.0, 120.0])
def test_bar_lines_fall_on_the_kick_not_on_a_snare_with_a_low_body(bpm: float) -> None:
    """Kick on 1 and 3, a loud snare on 2 and 4 whose body (180 Hz) and rattle reach the low
    bands: the snare's low-band rise must not pass for a kick and pull the bar line onto it."""
    y, ref = kick_snare_groove(bpm, kick_amp=0.5, snare_amp=0.7, body_hz=180.0, white_noise=True)
    r = detect_rhythm(compute_spectrogram(y, sr=SR))
    kicks = ref[::2]
    assert r.downbeat_times_s.size >= 12
    assert all(np.min(np.abs(kicks - d)) < 0.05 for d in r.downbeat_times_s)


def test_bar_phase_realigns_after_a_dropped_beat_but_not_for_one_odd_bar() -> None:
    clear = np.tile([2.0, -0.6, -0.8, -0.6], 8)
    odd_bar = clear.copy()
    odd_bar[12:16] = [-0.6, 2.0, -0.8, -0.6]
    pos = _downbeats.bar_positions(odd_bar, 4)
    assert np.array_equal(np.flatnonzero(pos == 0), np.arange(0, 32, 4))
    dropped = np.concatenate([clear[:14], clear[15:]])  # the tracker skipped one beat
    pos = _downbeats.bar_positions(dropped, 4)
    down = np.flatnonzero(pos == 0)
    assert np.array_equal(down[:4], [0, 4, 8, 12]) and np.array_equal(down[-4:], [15, 19, 23, 27])


def _groove_envelopes(cycle: Sequence[Sequence[float]], n_beats: int, seed: int) -> np.ndarray:
    """Low- and high-band onset envelopes of a groove, 12 frames a beat, shape (2, n_frames).

    ``cycle[i]`` is beat ``i``'s (low, high) hit strengths at each sixteenth: 8 numbers, the
    four sixteenths of the low band then of the high band; the cycle repeats. Every hit is
    played a little louder or softer, as a drummer would.
    """
    rng = np.random.default_rng(seed)
    env = np.zeros((2, 12 * n_beats + 12))
    for b in range(n_beats):
        hits = np.asarray(cycle[b % len(cycle)]).reshape(2, 4)
        env[:, 12 * b : 12 * b + 12 : 3] = hits * rng.uniform(0.8, 1.2, hits.shape)
    return env


FOUR_FOUR = [  # kick on 1 and 3 (and the "and" of 3), snare on 2 and 4, hi-hat eighths
    (1.0, 0, 0, 0, 0.3, 0, 0.3, 0),
    (0, 0, 0, 0, 1.0, 0, 0.3, 0),
    (1.0, 0, 0.8, 0, 0.3, 0, 0.3, 0),
    (0, 0, 0, 0, 1.0, 0, 0.3, 0.5),
]
WALTZ = [  # oom-pah-pah: bass on 1, chords on 2 and 3 with a pickup before the next bar
    (1.0, 0, 0, 0, 0, 0, 0.2, 0),
    (0, 0, 0, 0, 0.8, 0, 0, 0),
    (0, 0, 0.4, 0, 0.8, 0, 0.2, 0.5),
]


@pytest.mark.parametrize(
    ("cycle", "meters"), [(FOUR_FOUR, (2, 4)), (FOUR_FOUR[:2], (2, 4)), (WALTZ, (3,))]
)
def test_repeating_grooves_tell_duple_from_triple(
    cycle: Sequence[Sequence[float]], meters: tuple[int, ...]
) -> None:
    """A groove repeats every bar: 4/4 and 2/4 beats match four beats on, a waltz three on."""
    env = _groove_envelopes(cycle, 48, seed=1)
    beats = np.arange(48) * 12
    lean = _downbeats.duple_lean(_downbeats.beat_patterns(env, beats))
    assert _downbeats.meters_from_repetition(lean) == meters


def test_a_pulse_with_every_beat_alike_leaves_the_meter_to_the_accents() -> None:
    """A metronome, or strumming the same way on every beat: no bar-length repetition."""
    cycle = [(1.0, 0, 0.5, 0, 0.3, 0.3, 0.3, 0.3)]
    env = _groove_envelopes(cycle, 48, seed=2)
    lean = _downbeats.duple_lean(_downbeats.beat_patterns(env, np.arange(48) * 12))
    assert _downbeats.meters_from_repetition(lean) is None


def test_too_few_beats_for_two_bars_give_no_lean() -> None:
    env = _groove_envelopes(FOUR_FOUR, 6, seed=3)
    assert _downbeats.duple_lean(_downbeats.beat_patterns(env, np.arange(6) * 12)) == 0.0


PITCH_CLASSES = {"C": (0, 4, 7), "G": (7, 11, 2), "Am": (9, 0, 4), "F": (5, 9, 0)}


def _chord_chroma(names: Sequence[str]) -> np.ndarray:
    """A log-compressed pitch-class profile per beat, shape (12, n_beats), as from
    ``_downbeats.beat_chroma``: the chord's three notes loud, the other nine faint."""
    out = np.full((12, len(names)), 0.1)
    for i, name in enumerate(names):
        out[list(PITCH_CLASSES[name]), i] = 1.0
    return np.log1p(10.0 * out)


def test_a_new_section_scores_highest_on_its_first_downbeat() -> None:
    """Two chords a bar (on 1 and 3, so within a section beats 1 and 3 change alike), a new
    pair every four bars: the long harmonic-change vote peaks on the new section's first
    beat, above the beats 3 just before and after it."""
    names = (["C", "C", "G", "G"] * 4 + ["Am", "Am", "F", "F"] * 4) * 2
    nov = _downbeats.novelty(_chord_chroma(names), context=_downbeats.PHRASE_BEATS)
    for start in (16, 32, 48):
        assert nov[start] == np.nanmax(nov[start - 4 : start + 5])
        assert nov[start] > 1.2 * max(nov[start - 2], nov[start + 2])
