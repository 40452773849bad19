"""Turn a :class:`~tools.eval.corpus.SongSpec` into a multi-instrument MIDI performance.

Notes are placed on the exact reference beat grid (position in beats -> seconds by linear
interpolation between reference beats), with swing, a little human timing jitter (a few ms)
and velocity variation. The reference annotations therefore stay exact.
"""

from __future__ import annotations

import numpy as np
import pretty_midi

from tools.eval.corpus import SongSpec, beat_grid
from tools.eval.grooves import DRUM_KEY, DRUM_VELOCITY, FILL, GROOVES, PROGRESSIONS, Groove

PENTATONIC = (0, 2, 4, 7, 9)
JITTER_S = 0.004
"""standard deviation of the human timing jitter, seconds"""


class _Timeline:
    """Maps a position in beats (swing applied to off-beat eighths) to seconds."""

    def __init__(self, beats_s: np.ndarray, swing: float) -> None:
        last = beats_s[-1] + (beats_s[-1] - beats_s[-2])
        self.grid = np.append(beats_s, last)
        self.swing = swing

    def __call__(self, pos: float) -> float:
        i = min(int(np.floor(pos)), len(self.grid) - 2)
        frac = pos - i
        if abs(frac - 0.5) < 1e-9:
            frac = self.swing
        return float(self.grid[i] + frac * (self.grid[i + 1] - self.grid[i]))


def _chord(key: int, root: int, quality: str) -> list[int]:
    third = 3 if quality == "m" else 4
    return [key + root, key + root + third, key + root + 7]


class _Composer:
    def __init__(self, spec: SongSpec) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        self.beats_s, _ = beat_grid(spec)
        self.time = _Timeline(self.beats_s, spec.swing)
        self.groove: Groove = GROOVES[spec.style]
        self.key = int(self.rng.integers(0, 12))
        self.prog = PROGRESSIONS[int(self.rng.integers(0, len(PROGRESSIONS)))]
        self.n_bars = len(self.beats_s) // spec.beats_per_bar
        self.tracks: dict[tuple[int, bool], pretty_midi.Instrument] = {}

    def note(
        self, program: int, pitch: int, pos: float, length: float, vel: float, drum: bool = False
    ) -> None:
        track = self.tracks.setdefault(
            (program, drum), pretty_midi.Instrument(program=program, is_drum=drum)
        )
        start = self.time(pos) + self.rng.normal(0.0, JITTER_S)
        end = max(self.time(pos + length) - 0.02, start + 0.05)
        velocity = int(np.clip(vel + self.rng.normal(0.0, 6.0), 20, 127))
        track.notes.append(pretty_midi.Note(velocity, int(pitch), max(0.0, start), end))

    def drums(self, bar: int) -> None:
        bpb, origin = self.spec.beats_per_bar, bar * self.spec.beats_per_bar
        fill = bpb == 4 and bar % 8 == 7
        for voice, positions in self.groove.drums.items():
            for p in positions:
                if fill and p >= FILL[0] and voice != "kick":
                    continue
                accent = 12 if float(p).is_integer() else 0
                self.note(
                    0, DRUM_KEY[voice], origin + p, 0.25, DRUM_VELOCITY[voice] + accent, drum=True
                )
        if fill:
            for i, p in enumerate(FILL):
                self.note(0, (50, 47, 45)[i * 3 // len(FILL)], origin + p, 0.25, 100, drum=True)
        if bar % 8 == 0 and self.groove.drums:
            self.note(0, DRUM_KEY["crash"], origin, 1.0, DRUM_VELOCITY["crash"], drum=True)

    def harmony(self, bar: int) -> None:
        g, bpb = self.groove, self.spec.beats_per_bar
        origin = bar * bpb
        root, quality = self.prog[bar % len(self.prog)]
        chord = _chord(60 + self.key - 12 * (self.key > 5), root, quality)
        bass_root = 36 + (self.key + root) % 12
        for i, p in enumerate(g.bass):
            pitch = bass_root + (7 if g.bass_program == 32 and i % 4 == 2 else 0)
            self.note(g.bass_program, pitch, origin + p, min(0.9, bpb - p), 96)
        if g.pad_program is not None:
            self.note(g.pad_program, chord[0], origin, bpb, 58)
            self.note(g.pad_program, chord[2], origin, bpb, 54)
        if g.arpeggio:
            tones = chord + [chord[0] + 12, chord[1] + 12]
            for k in range(2 * bpb):
                vel = 84 if k % 2 == 0 else 66
                self.note(g.comp_program, tones[(k * 2) % len(tones)], origin + k / 2, 0.6, vel)
            return
        for p in g.comp:
            for pitch in chord:
                self.note(
                    g.comp_program,
                    pitch,
                    origin + p,
                    min(g.comp_len, bpb - p),
                    88 if float(p).is_integer() else 78,
                )

    def lead(self, bar: int) -> None:
        g, bpb = self.groove, self.spec.beats_per_bar
        if g.lead_density <= 0.0 or bar < 2:
            return
        for k in range(2 * bpb):
            if self.rng.random() < g.lead_density:
                degree = PENTATONIC[int(self.rng.integers(0, 5))]
                pitch = 72 + (self.key + degree) % 12
                self.note(g.lead_program, pitch, bar * bpb + k / 2, 0.45, 84)

    def build(self) -> pretty_midi.PrettyMIDI:
        for bar in range(self.n_bars):
            self.drums(bar)
            self.harmony(bar)
            self.lead(bar)
        pm = pretty_midi.PrettyMIDI(initial_tempo=self.spec.bpm_start)
        pm.instruments.extend(self.tracks.values())
        return pm


def compose(spec: SongSpec) -> pretty_midi.PrettyMIDI:
    """Deterministic MIDI performance of ``spec`` (seeded by ``spec.seed``)."""
    return _Composer(spec).build()
