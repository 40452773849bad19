"""Run our rhythm engine and plain librosa on one audio file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from services.analyzer.domain.rhythm import detect_rhythm
from services.analyzer.domain.types import ANALYSIS_SR, HOP_LENGTH, N_FFT, Rhythm, Spectrogram


def _stft_magnitude(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """|STFT| with a Hann window and centre padding, shape (1 + n_fft // 2, n_frames)."""
    y = np.pad(y, n_fft // 2)
    n_frames = 1 + (y.size - n_fft) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length][:n_frames]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    return np.abs(np.fft.rfft(frames * window, axis=1)).T.astype(np.float32)


def spectrogram(
    y: np.ndarray, *, sr: int = ANALYSIS_SR, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
) -> Spectrogram:
    """The production STFT when it exists, else the same conventions computed here."""
    try:
        from services.analyzer.domain.spectrum import compute_spectrogram
    except ImportError:
        mag = _stft_magnitude(np.asarray(y, dtype=np.float32), n_fft=n_fft, hop_length=hop_length)
        return Spectrogram(magnitude=mag, sr=sr, n_fft=n_fft, hop_length=hop_length)
    return compute_spectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length)


def load_mono(path: Path, *, sr: int = ANALYSIS_SR) -> np.ndarray:
    """Mono float32 audio of ``path`` resampled to ``sr``."""
    y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    return soxr.resample(y, file_sr, sr).astype(np.float32) if file_sr != sr else y


def run_ours(path: Path, **kwargs) -> Rhythm:
    """Our engine on ``path``."""
    return detect_rhythm(spectrogram(load_mono(path)), **kwargs)


def run_librosa(path: Path) -> tuple[np.ndarray, float]:
    """Plain ``librosa.load`` + ``librosa.beat.beat_track``: (beat times s, tempo BPM)."""
    import librosa

    y, sr = librosa.load(str(path))
    return librosa_beats(y, sr)


def librosa_beats(y: np.ndarray, sr: float) -> tuple[np.ndarray, float]:
    """Plain ``librosa.beat.beat_track`` on samples ``y`` at ``sr``: (beat times s, tempo BPM)."""
    import librosa

    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    return np.asarray(beats, dtype=float), float(np.atleast_1d(tempo)[0])
