"""Render the bundled example song: ``examples/example_song.ogg`` + its reference beats.

Usage: ``python -m tools.eval.make_example [--out-dir examples]``. Deterministic: a 128 BPM
4/4 dance track, 16 bars (~30 s), General MIDI drums, bass, chords and lead rendered with
FluidSynth (FluidR3 GM), structured intro (4 bars) -> build (4) -> drop (6) -> outro (2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from tools.eval.compose import _Timeline
from tools.eval.grooves import DRUM_KEY
from tools.eval.render import DRUM_BUS_DB, RENDER_SR, SF2_PATH

BPM, START_S, BARS = 128.0, 0.5, 16
SECTIONS = {
    "intro": range(0, 4),
    "build": range(4, 8),
    "drop": range(8, 14),
    "outro": range(14, 16),
}
CHORDS = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))  # Am F C G
LEAD = (76, 74, 72, 69, 72, 74, 76, 79)


class _Song:
    def __init__(self) -> None:
        self.beats_s = START_S + np.arange(BARS * 4) * 60.0 / BPM
        self.time = _Timeline(self.beats_s, 0.5)
        self.tracks: dict[tuple[int, bool], pretty_midi.Instrument] = {}

    def add(
        self, program: int, pitch: int, pos: float, length: float, vel: int, drum: bool = False
    ) -> None:
        inst = self.tracks.setdefault(
            (program, drum), pretty_midi.Instrument(program=program, is_drum=drum)
        )
        start = self.time(pos)
        inst.notes.append(pretty_midi.Note(vel, pitch, start, start + length * 60.0 / BPM))

    def drums(self, bar: int, section: str) -> None:
        o = bar * 4
        for b in range(4):
            if section != "intro" or bar >= 2:
                self.add(0, DRUM_KEY["kick"], o + b, 0.25, 118 if section == "drop" else 96, True)
            self.add(
                0, DRUM_KEY["chh" if section != "drop" else "ohh"], o + b + 0.5, 0.25, 70, True
            )
        if section in ("drop", "outro"):
            for b in (1, 3):
                self.add(0, DRUM_KEY["clap"], o + b, 0.25, 108, True)
        if section == "build":
            step = 1.0 if bar < 6 else 0.5 if bar == 6 else 0.25
            for k, p in enumerate(np.arange(0, 4, step)):
                self.add(
                    0, DRUM_KEY["snare"], o + p, 0.2, int(60 + 50 * (bar - 4 + k / 16) / 4), True
                )
        if bar in (SECTIONS["drop"].start, SECTIONS["outro"].start):
            self.add(0, DRUM_KEY["crash"], o, 2.0, 110, True)

    def harmony(self, bar: int, section: str) -> None:
        o, chord = bar * 4, CHORDS[bar % 4]
        for pitch in chord:
            self.add(89, pitch, o, 4.0, 60)
        if section in ("build", "drop"):
            for p in np.arange(0, 4, 0.5):
                self.add(38, chord[0] - 24, o + p, 0.4, 100 if p % 1 else 90)
        if section == "drop":
            for p in (0.0, 1.5, 3.0):
                for pitch in chord:
                    self.add(81, pitch + 12, o + p, 0.3, 80)
            for k, p in enumerate(np.arange(0, 4, 0.5)):
                self.add(80, LEAD[(k + bar) % len(LEAD)], o + p, 0.45, 90)

    def midi(self) -> pretty_midi.PrettyMIDI:
        for name, bars in SECTIONS.items():
            for bar in bars:
                self.drums(bar, name)
                self.harmony(bar, name)
        pm = pretty_midi.PrettyMIDI(initial_tempo=BPM)
        pm.instruments.extend(self.tracks.values())
        return pm


def render(out_dir: Path) -> tuple[Path, Path]:
    """Write ``example_song.ogg`` (OGG Vorbis, 44.1 kHz) and ``example_song.beats.txt``."""
    song = _Song()
    n = int((song.beats_s[-1] + 60.0 / BPM + 1.0) * RENDER_SR)
    audio = np.zeros(n, dtype=np.float32)
    for inst in song.midi().instruments:
        part = inst.fluidsynth(fs=RENDER_SR, synthesizer=str(SF2_PATH))[:n].astype(np.float32)
        audio[: part.size] += part * (10 ** (DRUM_BUS_DB / 20) if inst.is_drum else 1.0)
    audio *= 0.89 / max(float(np.abs(audio).max()), 1e-9)
    out_dir.mkdir(parents=True, exist_ok=True)
    ogg, beats = out_dir / "example_song.ogg", out_dir / "example_song.beats.txt"
    sf.write(ogg, audio, RENDER_SR, format="OGG", subtype="VORBIS")
    beats.write_text("".join(f"{t:.6f}\n" for t in song.beats_s))
    return ogg, beats


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out-dir", type=Path, default=Path("examples"))
    for path in render(ap.parse_args().out_dir):
        print(path, path.stat().st_size, "bytes")
