"""Behaviour of ``detect_rhythm`` on synthetic click tracks, with librosa-style tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from services.analyzer.domain import _tempo
from services.analyzer.domain.rhythm import detect_rhythm
from services.analyzer.domain.types import Rhythm, Spectrogram

SR, N_FFT, HOP = 22050, 1024, 256


def _spectrogram(y: np.ndarray) -> Spectrogram:
    """|STFT| with a Hann window and centre padding (the production conventions)."""
    y = np.pad(y.astype(np.float32), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    mag = np.abs(np.fft.rfft(frames * np.hanning(N_FFT + 1)[:-1], axis=1)).T
    return Spectrogram(magnitude=mag.astype(np.float32), sr=SR, n_fft=N_FFT, hop_length=HOP)


def _click(freq_hz: float, amp: float, seed: int) -> np.ndarray:
    t = np.arange(int(0.06 * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.3
    return amp * (np.sin(2 * np.pi * freq_hz * t) + noise) * np.exp(-t / 0.012)


def _kick(amp: float) -> np.ndarray:
    """A pitch-dropping sine kick (150 -> 50 Hz), 0.25 s."""
    t = np.arange(int(0.25 * SR)) / SR
    phase = 50.0 * t + 100.0 * 0.03 * (1.0 - np.exp(-t / 0.03))
    return amp * np.sin(2 * np.pi * phase) * np.exp(-t / 0.15)


def _render(
    times_s: np.ndarray, duration_s: float, *, accent_every: int = 0, subdivide: bool = False
) -> np.ndarray:
    y = np.zeros(int(duration_s * SR) + SR)
    for i, t in enumerate(times_s):
        strong = accent_every and i % accent_every == 0
        c = _click(120.0 if strong else 1500.0, 1.0 if strong else 0.6, i)
        y[int(t * SR) : int(t * SR) + c.size] += c
    if subdivide:
        for i, t in enumerate((times_s[:-1] + times_s[1:]) / 2):
            c = _click(6000.0, 0.15, 10_000 + i)
            y[int(t * SR) : int(t * SR) + c.size] += c
    return y[: int(duration_s * SR)]


def _grid(bpm: float, start_s: float, end_s: float) -> np.ndarray:
    return np.arange(start_s, end_s, 60.0 / bpm)


def _matched(ref: np.ndarray, est: np.ndarray, tol_s: float = 0.07) -> float:
    """Fraction of reference beats with an estimated beat within ``tol_s``."""
    return float(np.mean([np.min(np.abs(est - r)) <= tol_s for r in ref])) if est.size else 0.0


def _check_invariants(r: Rhythm) -> None:
    assert np.all(np.diff(r.beat_times_s) > 0)
    assert r.beat_strength.shape == r.local_bpm.shape == r.beat_times_s.shape
    assert np.all((r.beat_strength >= 0) & (r.beat_strength <= 1))
    assert np.all(np.isin(r.downbeat_times_s, r.beat_times_s))
    assert 0.0 <= r.confidence <= 1.0


@pytest.mark.parametrize("bpm", [72.0, 100.0, 128.0, 165.0])
def test_click_track_beats_and_tempo(bpm: float) -> None:
    ref = _grid(bpm, 0.5, 20.0)
    r = detect_rhythm(_spectrogram(_render(ref, 20.5, accent_every=4)))
    _check_invariants(r)
    assert _matched(ref, r.beat_times_s) >= 0.95
    assert r.bpm == pytest.approx(bpm, rel=0.02)
    assert np.median(r.local_bpm) == pytest.approx(bpm, rel=0.02)


def test_beats_are_on_the_onset_not_late() -> None:
    ref = _grid(110.0, 0.5, 20.0)
    r = detect_rhythm(_spectrogram(_render(ref, 20.5, accent_every=4)))
    d = r.beat_times_s[:, None] - ref[None, :]
    nearest = d[np.arange(d.shape[0]), np.argmin(np.abs(d), axis=1)]
    assert abs(float(np.mean(nearest))) < 0.015


def test_silence_gives_no_beats_and_a_warning() -> None:
    r = detect_rhythm(_spectrogram(np.zeros(10 * SR)))
    assert r.beat_times_s.size == 0 and r.downbeat_times_s.size == 0 and r.bpm == 0.0
    assert r.warnings


def _noise(kind: str, seconds: float, seed: int = 0) -> np.ndarray:
    white = np.random.default_rng(seed).standard_normal(int(seconds * SR))
    if kind == "white":
        return 0.1 * white
    spectrum = np.fft.rfft(white)
    f = np.arange(spectrum.size) + 1.0
    coloured = np.fft.irfft(spectrum / (np.sqrt(f) if kind == "pink" else f), n=white.size)
    return 0.3 * coloured / np.abs(coloured).max()


def _piano_note(freq_hz: float, amp: float) -> np.ndarray:
    """A struck string: eight decaying partials, slightly stretched, with a soft attack."""
    t = np.arange(int(1.5 * SR)) / SR
    tone = sum(np.sin(2 * np.pi * k * freq_hz * (1 + 0.0004 * k * k) * t) / k for k in range(1, 9))
    return amp * tone * np.exp(-t / 0.5) * np.minimum(t / 0.004, 1.0)


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_noise_gets_no_beats_and_says_why(kind: str) -> None:
    r = detect_rhythm(_spectrogram(_noise(kind, 30.0)))
    assert r.beat_times_s.size == 0 and r.bpm == 0.0
    assert r.warnings and r.warnings[0].startswith("no_pulse")


def test_quiet_solo_piano_gets_a_beat_grid_not_a_refusal() -> None:
    """A soft piano melody (no drums, -30 dBFS, legato) has a pulse a listener hears."""
    bpm, rng = 76.0, np.random.default_rng(3)
    ref = _grid(bpm, 0.5, 30.0)
    y = np.zeros(int(31 * SR))
    pitches = 220.0 * 2 ** (rng.integers(0, 12, ref.size) / 12)
    for t, f in zip(ref, pitches, strict=False):
        note = _piano_note(float(f), 0.03 * rng.uniform(0.7, 1.0))
        i = int(t * SR)
        y[i : i + note.size] += note[: y.size - i]
    y += 0.002 * _noise("pink", 31.0, seed=4)
    r = detect_rhythm(_spectrogram(y))
    _check_invariants(r)
    assert _matched(ref, r.beat_times_s) >= 0.85
    assert r.bpm == pytest.approx(bpm, rel=0.04)


def test_an_accelerating_groove_is_not_refused_as_noise() -> None:
    """A house groove speeding up from 80 to 150 BPM over 30 s: its pulse is plain at every
    moment, but the whole clip's autocorrelation is smeared to the level of noise (and its
    hi-hats and noise bed make the spectrum as flat as noise)."""
    rng = np.random.default_rng(5)
    y = np.zeros(31 * SR)
    beats, t = [], 0.4
    while t < 29.5:
        beats.append(t)
        t += 60.0 / (80.0 + 70.0 * t / 30.0)
    tt = np.arange(int(0.15 * SR)) / SR
    kick = _kick(0.5)
    for a, b in zip(beats[:-1], beats[1:], strict=True):
        y[int(a * SR) : int(a * SR) + kick.size] += kick
        h = int((a + b) / 2 * SR)
        y[h : h + tt.size] += 0.5 * rng.standard_normal(tt.size) * np.exp(-tt / 0.05)
    y += 0.05 * rng.standard_normal(y.size)
    r = detect_rhythm(_spectrogram(y[: 30 * SR]))
    _check_invariants(r)
    assert not r.warnings or not r.warnings[0].startswith("no_pulse")
    assert _matched(np.asarray(beats[8:-2]), r.beat_times_s) >= 0.8


def test_steady_tone_has_no_pulse() -> None:
    t = np.arange(10 * SR) / SR
    r = detect_rhythm(_spectrogram(0.5 * np.sin(2 * np.pi * 440.0 * t)))
    assert r.beat_times_s.size == 0 and r.warnings


def test_no_beats_in_a_silent_intro() -> None:
    ref = _grid(120.0, 5.0, 20.0)
    r = detect_rhythm(_spectrogram(_render(ref, 20.5, accent_every=4)))
    assert r.beat_times_s.size and r.beat_times_s[0] > 4.9
    assert _matched(ref, r.beat_times_s) >= 0.95


def test_sudden_tempo_change_is_followed() -> None:
    ref = np.concatenate([_grid(100.0, 0.5, 12.5), _grid(140.0, 12.5, 25.0)])
    r = detect_rhythm(_spectrogram(_render(ref, 25.5, accent_every=4)))
    assert _matched(ref, r.beat_times_s) >= 0.9
    early, late = r.local_bpm[r.beat_times_s < 10.0], r.local_bpm[r.beat_times_s > 15.0]
    assert np.median(early) == pytest.approx(100.0, rel=0.03)
    assert np.median(late) == pytest.approx(140.0, rel=0.03)


@pytest.mark.parametrize("beats_per_bar", [2, 3, 4])
def test_meter_and_downbeats(beats_per_bar: int) -> None:
    ref = _grid(120.0, 0.5, 20.0)
    r = detect_rhythm(_spectrogram(_render(ref, 20.5, accent_every=beats_per_bar)))
    assert r.beats_per_bar == beats_per_bar
    assert _matched(ref[::beats_per_bar], r.downbeat_times_s) >= 0.9


def test_six_eight_is_reported_as_compound_duple() -> None:
    """Two dotted-quarter beats a bar, each divided in three softer eighths."""
    eighths = _grid(300.0, 0.5, 24.0)
    y = np.zeros(int(24.5 * SR))
    for i, t in enumerate(eighths):
        bar_start, beat_start = i % 6 == 0, i % 3 == 0
        c = _click(
            120.0 if bar_start else 1500.0 if beat_start else 5000.0,
            1.0 if bar_start else 0.6 if beat_start else 0.05,
            i,
        )
        y[int(t * SR) : int(t * SR) + c.size] += c
    r = detect_rhythm(_spectrogram(y))
    beats = eighths[::3]
    assert _matched(beats, r.beat_times_s) >= 0.9 and r.bpm == pytest.approx(100.0, rel=0.04)
    assert (r.beats_per_bar, r.beat_division) == (2, 3)
    assert _matched(eighths[::6], r.downbeat_times_s) >= 0.9


def test_straight_eighths_keep_a_simple_meter() -> None:
    ref = _grid(100.0, 0.5, 24.0)
    r = detect_rhythm(_spectrogram(_render(ref, 24.5, accent_every=4, subdivide=True)))
    assert (r.beats_per_bar, r.beat_division) == (4, 2)


def test_slow_beat_with_soft_subdivisions_is_not_doubled() -> None:
    ref = _grid(66.0, 0.5, 24.0)
    r = detect_rhythm(_spectrogram(_render(ref, 24.5, accent_every=4, subdivide=True)))
    assert r.bpm == pytest.approx(66.0, rel=0.04)


def _eighths(bpm: float, off_amp: float, duration_s: float = 24.0) -> np.ndarray:
    """A slow beat played in eighths: the on-beat eighths loud, the off-beat ones at
    ``off_amp`` of their level, a low click on every bar line."""
    y = np.zeros(int(duration_s * SR) + SR)
    for i, t in enumerate(_grid(2.0 * bpm, 0.5, duration_s)):
        c = _click(120.0 if i % 8 == 0 else 1500.0, 1.0 if i % 2 == 0 else off_amp, i)
        y[int(t * SR) : int(t * SR) + c.size] += c
    return y[: int(duration_s * SR)]


@pytest.mark.parametrize(("bpm", "off_amp"), [(56.0, 0.3), (64.0, 0.3), (64.0, 0.2)])
def test_slow_beat_in_eighths_with_soft_offbeats_is_reported_at_the_beat(
    bpm: float, off_amp: float
) -> None:
    """Eighths at a third of the beat's loudness are a subdivision, not the pulse (a slow
    rock ballad's hi-hat), so the tempo is the beat's, not twice it."""
    r = detect_rhythm(_spectrogram(_eighths(bpm, off_amp)))
    assert r.bpm == pytest.approx(bpm, rel=0.04)


@pytest.mark.parametrize("off_amp", [0.72, 0.75])
def test_a_slow_arpeggio_in_eighths_is_reported_at_the_beat(off_amp: float) -> None:
    """Drumless piano at 64 BPM in eighths, the off-beat eighths at three quarters of the
    beat's loudness and nothing in between: the eighths (128 BPM) are the subdivision."""
    y = np.zeros(32 * SR)
    for i, t in enumerate(_grid(128.0, 0.5, 30.0)):
        note = _piano_note(220.0 * (1.5 if i % 2 else 1.0), 0.1 * (1.0 if i % 2 == 0 else off_amp))
        y[int(t * SR) : int(t * SR) + note.size] += note
    assert detect_rhythm(_spectrogram(y[: 30 * SR])).bpm == pytest.approx(64.0, rel=0.04)


def test_a_swing_ride_with_soft_alternate_beats_is_not_halved() -> None:
    """Jazz at 150 BPM: beats 2 and 4 at a third and nothing half way, but the swung eighths fall
    at two thirds of the beat: the quarter notes are the pulse."""
    y = np.zeros(26 * SR)
    for i, t in enumerate(_grid(150.0, 0.5, 24.0)):
        for at, freq, amp in (
            (t, 1500.0, 1.0 if i % 2 == 0 else 0.35),
            (t + 0.4 * 2 / 3, 6000.0, 0.4),
        ):
            c = _click(freq, amp, 2 * i + (at > t))
            y[int(at * SR) : int(at * SR) + c.size] += c
    assert detect_rhythm(_spectrogram(y[: 24 * SR])).bpm == pytest.approx(150.0, rel=0.04)


def test_eighths_of_equal_weight_are_the_pulse() -> None:
    r = detect_rhythm(_spectrogram(_eighths(64.0, 0.9)))
    assert r.bpm == pytest.approx(128.0, rel=0.04)


def test_fast_beat_is_not_halved() -> None:
    """An even 190 BPM pulse stays 190: its midpoints are as strong as its beats."""
    ref = _grid(190.0, 0.5, 15.0)
    r = detect_rhythm(_spectrogram(_render(ref, 15.5)))
    assert r.bpm == pytest.approx(190.0, rel=0.04)


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        detect_rhythm(Spectrogram(np.zeros((10, 100), np.float32), SR, N_FFT, HOP))
    bad = np.full((N_FFT // 2 + 1, 100), np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN"):
        detect_rhythm(Spectrogram(bad, SR, N_FFT, HOP))
    with pytest.raises(ValueError, match="bpm"):
        detect_rhythm(_spectrogram(np.zeros(SR)), min_bpm=200.0, max_bpm=100.0)


def test_tempo_between_grid_steps_is_located_between_them() -> None:
    """The tempogram's grid is 1/36 octave (2 %) apart; a beat period between two steps
    must not be rounded to either, or the beats drift against a steady song."""
    states = np.arange(40, dtype=float)
    true_state = np.array([10.3, 20.0, 29.6])
    score = -((states[None, :] - true_state[:, None]) ** 2)
    path = np.round(true_state).astype(np.int64)
    offset = _tempo.peak_offset(score, path)
    assert offset == pytest.approx(true_state - path, abs=1e-9)
    # not a peak (the path sits on a slope) or the grid's edge: no shift
    assert _tempo.peak_offset(score, np.array([5, 0, 39])).tolist() == [0.0, 0.0, 0.0]
