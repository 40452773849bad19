"""Beat phase: a soft kick on the beat must win over loud hi-hats half way between beats."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from services.analyzer.domain.audio import decode
from services.analyzer.domain.rhythm import detect_rhythm, kick_grid_wins
from services.analyzer.domain.spectrum import compute_spectrogram
from tests.e2e.songs import click_song
from tests.unit.analyzer.test_rhythm import SR, _click, _kick, _render


def _edm_groove(
    bpm: float,
    *,
    kick_amp: float,
    offbeat_bass: float = 0.0,
    duration_s: float = 24.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft kick on every beat, loud open hi-hat on every off-beat, a pad and a noise bed.

    Returns the audio and the reference beats (the kicks).
    """
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    y = np.zeros(int((duration_s + 1.0) * SR))
    ref = np.arange(0.5, duration_s, beat)
    kick = _kick(kick_amp)
    t = np.arange(int(0.2 * SR)) / SR
    bass = (
        offbeat_bass * np.sin(2 * np.pi * 55.0 * t) * np.minimum(t / 0.02, 1.0) * np.exp(-t / 0.2)
    )
    for b in ref:
        i = int(b * SR)
        y[i : i + kick.size] += kick
        h = int((b + beat / 2) * SR)
        hat = np.diff(rng.standard_normal(t.size), prepend=0.0) * 0.5 * np.exp(-t / 0.1)
        y[h : h + hat.size] += hat
        y[h : h + bass.size] += bass
    tt = np.arange(y.size) / SR
    y += 0.05 * sum(np.sin(2 * np.pi * f * tt) for f in (220.0, 277.2, 329.6))
    y += 0.015 * rng.standard_normal(y.size)
    return y[: int(duration_s * SR)].astype(np.float32), ref


def _f(ref: np.ndarray, est: np.ndarray) -> float:
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=0.07))


def kick_snare_groove(
    bpm: float,
    *,
    kick_amp: float,
    snare_amp: float,
    body_hz: float,
    white_noise: bool = False,
    bars: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """A kick on beats 1 and 3 and a snare (noise plus a ``body_hz`` tone) on 2 and 4.

    ``white_noise`` gives the snare's rattle energy down into the kick's range; otherwise it
    is differenced (high-passed) noise. Returns the audio and the reference beats.
    """
    rng = np.random.default_rng(0)
    ref = 0.5 + np.arange(bars * 4) * 60.0 / bpm
    y = np.zeros(int((ref[-1] + 1.5) * SR))
    t = np.arange(int(0.2 * SR)) / SR
    kick = kick_amp * np.sin(2 * np.pi * (50 + 80 * np.exp(-t / 0.01)) * t) * np.exp(-t / 0.05)
    for i, b in enumerate(ref):
        at = int(b * SR)
        if i % 2 == 0:
            y[at : at + kick.size] += kick
            continue
        noise = rng.standard_normal(t.size)
        if not white_noise:
            noise = np.diff(noise, prepend=0.0)
        snare = snare_amp * (0.6 * noise + np.sin(2 * np.pi * body_hz * t)) * np.exp(-t / 0.04)
        y[at : at + snare.size] += snare
    return y.astype(np.float32), ref


@pytest.mark.parametrize(("kick_amp", "snare_amp"), [(0.5, 0.8), (0.6, 0.6)])
@pytest.mark.parametrize("bpm", [170.0, 200.0])
def test_fast_rock_is_not_tracked_on_its_backbeat_at_half_tempo(
    bpm: float, kick_amp: float, snare_amp: float
) -> None:
    """Kick and snare alternating at 170-200 BPM: the first grid lands on every snare at half
    the tempo, with every kick half way between its beats; the kicks belong on the grid."""
    y, ref = kick_snare_groove(bpm, kick_amp=kick_amp, snare_amp=snare_amp, body_hz=250.0)
    r = detect_rhythm(compute_spectrogram(y, sr=SR))
    assert r.bpm == pytest.approx(bpm, rel=0.04)
    assert _f(ref, r.beat_times_s) >= 0.9


@pytest.mark.parametrize(
    ("bpm", "kick_amp"), [(95.0, 0.15), (126.0, 0.3), (126.0, 0.08), (140.0, 0.15)]
)
def test_soft_kick_and_loud_offbeat_hats_beats_on_the_kick(bpm: float, kick_amp: float) -> None:
    y, ref = _edm_groove(bpm, kick_amp=kick_amp)
    r = detect_rhythm(compute_spectrogram(y, sr=SR))
    assert r.bpm == pytest.approx(bpm, rel=0.04)
    assert _f(ref, r.beat_times_s) >= 0.9


def test_offbeat_bass_does_not_pull_the_grid_off_the_kick() -> None:
    """House: the bass note sits on every off-beat too, but it swells; the kick still leads."""
    y, ref = _edm_groove(124.0, kick_amp=0.3, offbeat_bass=0.3)
    r = detect_rhythm(compute_spectrogram(y, sr=SR))
    assert _f(ref, r.beat_times_s) >= 0.9


def test_a_weak_hit_after_the_last_beat_does_not_bend_the_last_beats() -> None:
    """A soft note 0.3 s after the final beat (a pickup, a cymbal tail) is not a beat: the grid
    ends on the last beat instead of stretching its final intervals to reach that note."""
    ref = np.arange(0.5, 20.01, 0.5)
    y = _render(ref, 20.4)
    note, i = _click(1500.0, 0.3, 999), int((ref[-1] + 0.3) * SR)
    y[i : i + note.size] += note[: y.size - i]
    r = detect_rhythm(compute_spectrogram(y.astype(np.float32), sr=SR))
    assert _f(ref, r.beat_times_s) == 1.0
    assert np.max(np.abs(r.beat_times_s[-4:] - ref[-4:])) < 0.03


def test_no_beat_lies_after_the_end_of_the_track() -> None:
    """A kick in the final frame is a beat, but the onset calibration (+10 ms) must not carry it
    past the end: the map validator refuses beat times beyond the track's duration."""
    audio = decode(click_song(bpm=114, seconds=6.0, seed=104))
    r = detect_rhythm(compute_spectrogram(audio.samples, sr=audio.sr))
    assert r.beat_times_s.size >= 10
    assert r.beat_times_s[-1] <= audio.duration_s


@pytest.mark.parametrize(
    ("first", "kick", "wins"),
    [
        # a jazz trio: the first grid on the ride's off-beats, the kick-guided one on the beat
        ((-1.26, -1.47), (-2.20, -1.22), True),
        # a rock verse whose bass plays between the beats: the kick-guided grid follows the
        # bass while snare, hi-hat and guitar sound half way between its beats
        ((0.01, -0.78), (-0.60, 0.34), False),
        # an intro with the bass on the off-beats and nothing else low: the same
        ((0.44, -0.43), (-0.45, 0.42), False),
        # reggae at half tempo: the kick-guided grid on the kicks, the backbeat between them;
        # its kick lead is decisive
        ((1.71, -0.29), (-1.45, 0.53), True),
    ],
)
def test_the_kick_guided_grid_needs_the_onsets_on_its_beats_unless_the_kick_decides(
    first: tuple[float, float], kick: tuple[float, float], wins: bool
) -> None:
    """Off-beat evidence (kick, full-band onsets; log2 lead half way between beats) of the
    first grid and of the kick-guided one, as measured on real recordings of each kind."""
    assert kick_grid_wins(first, kick) is wins
