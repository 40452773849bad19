"""Render corpus songs with FluidSynth (FluidR3 GM) and cache them under ``.eval-cache/``.

Each cached song is ``<name>-<hash>.wav`` (44.1 kHz, 16-bit mono) plus ``.beats.txt`` and
``.downbeats.txt`` (one time in seconds a line). The hash covers the spec and the generator
version, so changing either re-renders only what changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from tools.eval.corpus import SongSpec, beat_grid

SF2_PATH = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_SR = 44100
GENERATOR_VERSION = 4
DRUM_BUS_DB = 6.0
"""drums sit on top of the mix, as in produced pop / dance music (FluidR3's kit is soft)"""
CACHE_DIR = Path(".eval-cache")
PEAK_DBFS = -1.0


def _song_hash(spec: SongSpec) -> str:
    payload = json.dumps([GENERATOR_VERSION, dataclasses.asdict(spec)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def synthesize(spec: SongSpec, *, sr: int = RENDER_SR) -> np.ndarray:
    """Mono float32 audio of ``spec``, shape (n,), peak at ``PEAK_DBFS``.

    The audio is padded or cut to exactly ``spec.duration_s`` seconds.
    """
    from tools.eval.compose import compose  # pretty_midi / fluidsynth only when rendering

    if not SF2_PATH.exists():
        raise FileNotFoundError(f"soundfont {SF2_PATH} missing: apt-get install fluid-soundfont-gm")
    n = int(round(spec.duration_s * sr))
    audio = np.zeros(n + sr, dtype=np.float32)
    for inst in compose(spec).instruments:
        part = inst.fluidsynth(fs=sr, synthesizer=str(SF2_PATH))[: audio.size]
        gain = 10 ** (DRUM_BUS_DB / 20) if inst.is_drum else 1.0
        audio[: part.size] += gain * part.astype(np.float32)
    audio = audio[:n]
    audio *= 10 ** (PEAK_DBFS / 20) / max(float(np.max(np.abs(audio))), 1e-9)
    if spec.noise_floor_db is not None:
        noise = np.random.default_rng(spec.seed).standard_normal(n).astype(np.float32)
        audio += noise * 10 ** (spec.noise_floor_db / 20)
    return audio


def _write_events(path: Path, times_s: np.ndarray) -> None:
    path.write_text("".join(f"{t:.6f}\n" for t in times_s))


def render_cached(spec: SongSpec, *, cache_dir: Path = CACHE_DIR) -> tuple[Path, Path, Path]:
    """Render ``spec`` unless cached. Returns (audio, beats, downbeats) paths."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_dir / f"{spec.name}-{_song_hash(spec)}"
    wav, beats, downbeats = (
        Path(f"{stem}{ext}") for ext in (".wav", ".beats.txt", ".downbeats.txt")
    )
    if not (wav.exists() and beats.exists() and downbeats.exists()):
        audio = synthesize(spec)
        tmp = Path(f"{stem}.tmp.wav")
        sf.write(tmp, audio, RENDER_SR, subtype="PCM_16")
        ref_beats, ref_downbeats = beat_grid(spec)
        _write_events(beats, ref_beats)
        _write_events(downbeats, ref_downbeats)
        tmp.replace(wav)
    return wav, beats, downbeats
