"""Plain data passed between the analysis stages (no I/O anywhere in ``domain``).

Shapes follow librosa's conventions: a spectrogram is ``(n_bins, n_frames)``; frame ``t`` is
centred at ``t * hop_length / sr`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ANALYSIS_SR = 22050
"""Sample rate every analysis runs at, Hz."""
N_FFT = 1024
HOP_LENGTH = 256
"""STFT frame size and hop in samples at ``ANALYSIS_SR`` (hop = 11.6 ms)."""


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded mono audio at the analysis rate."""

    samples: np.ndarray
    """shape (n,), float32 in [-1, 1], mono, at ``sr``"""
    sr: int
    source_sr: int
    source_channels: int
    source_format: str
    """e.g. 'WAV', 'FLAC', 'OGG', 'MP3' (libsndfile major format)"""

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sr


@dataclass(frozen=True, slots=True)
class Spectrogram:
    """The one STFT of a track that every feature reads."""

    magnitude: np.ndarray
    """shape (n_bins, n_frames), float32, linear magnitude"""
    sr: int
    n_fft: int
    hop_length: int

    @property
    def n_frames(self) -> int:
        return self.magnitude.shape[1]

    @property
    def frame_rate_hz(self) -> float:
        return self.sr / self.hop_length

    @property
    def freqs_hz(self) -> np.ndarray:
        """shape (n_bins,): centre frequency of each bin"""
        return np.linspace(0.0, self.sr / 2, self.magnitude.shape[0], dtype=np.float32)

    def frame_times_s(self) -> np.ndarray:
        """shape (n_frames,): centre time of each frame"""
        return np.arange(self.n_frames, dtype=np.float64) * self.hop_length / self.sr


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Beats, tempo and bars of a track. Empty arrays mean no beat was found."""

    beat_times_s: np.ndarray
    """shape (n_beats,), strictly increasing, seconds from the file start"""
    beat_strength: np.ndarray
    """shape (n_beats,), 0..1"""
    local_bpm: np.ndarray
    """shape (n_beats,), local tempo at each beat, beats per minute"""
    bpm: float
    """global tempo (0.0 when no beat was found)"""
    downbeat_times_s: np.ndarray
    """shape (n_bars,), a subset of ``beat_times_s``"""
    beats_per_bar: int
    """meter numerator (3 or 4 typically; 0 when unknown)"""
    confidence: float
    """0..1: how periodic and strong the pulse is"""
    warnings: tuple[str, ...] = field(default=())
    beat_division: int = 2
    """how the notes between beats divide each beat: 2 (simple meter: 2/4, 3/4, 4/4) or 3
    (compound: 6/8, 9/8, 12/8)"""
    bar_confidence: float = 1.0
    """0..1: how clearly the chosen bar lines stand out from the other beats (0 when no bars
    were found; 1.0 where it was not measured: hand-built rhythms, artefacts from before it
    existed). On the 36 bar-annotated real excerpts of ``make eval-real``, those at 0.5 or
    above scored downbeat F 0.77, those below 0.40"""
