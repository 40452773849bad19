"""The whole analysis of one track: decode → spectrogram → rhythm → features → sections.

``Analysis`` round-trips through a JSON artefact (``to_artifact`` / ``from_artifact``) so one
process can analyse and another build the Genesis Map later. Curves are quantised once, here, to
the precision the artefact stores, so a map built in-process and one built from the artefact are
byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio import MAX_DURATION_S, Source, decode
from .features import N_MEL, SILENCE_DB, Features, compute_features
from .rhythm import detect_rhythm
from .sections import Section, detect_sections
from .spectrum import compute_spectrogram
from .types import HOP_LENGTH, N_FFT, Audio, Rhythm

ENGINE = "k1_genesis"
ENGINE_VERSION = "1.0.0"
ARTIFACT_KIND = "k1.analysis"
ARTIFACT_VERSION = 1

Progress = Callable[[str, float], None]
"""``progress(stage, percent)``: stage name and overall completion 0..100."""

_STAGES = {"decode": 0.0, "spectrogram": 20.0, "rhythm": 40.0, "features": 75.0, "sections": 90.0}


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything measured on a track; the Genesis engine makes maps from this alone."""

    duration_s: float
    rhythm: Rhythm
    features: Features
    sections: tuple[Section, ...]
    drops_s: np.ndarray
    """shape (n_drops,), seconds"""
    source: dict[str, Any] = field(default_factory=dict)
    """source_sr, source_channels, source_format"""
    config: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def silent(self) -> bool:
        return bool(self.features.loudness_db.max() <= SILENCE_DB)

    def to_artifact(self) -> dict[str, Any]:
        """A JSON-compatible dict (lists, floats, strings) of everything but ``timbre_db``."""
        r, f = self.rhythm, self.features
        return {
            "kind": ARTIFACT_KIND,
            "version": ARTIFACT_VERSION,
            "duration_s": self.duration_s,
            "source": dict(self.source),
            "config": dict(self.config),
            "warnings": list(self.warnings),
            "rhythm": {
                **{k: _list(getattr(r, k)) for k in _RHYTHM_ARRAYS},
                "bpm": r.bpm,
                "beats_per_bar": r.beats_per_bar,
                "confidence": r.confidence,
                "beat_division": r.beat_division,
                "bar_confidence": r.bar_confidence,
                "warnings": list(r.warnings),
            },
            "features": {
                **{k: _list(getattr(f, k)) for k in _FEATURE_ARRAYS},
                "frame_rate_hz": f.frame_rate_hz,
                "series_rate_hz": f.series_rate_hz,
                "dynamic_range_db": f.dynamic_range_db,
            },
            "sections": [[s.start_s, s.end_s, s.label, s.energy] for s in self.sections],
            "drops_s": _list(self.drops_s),
        }

    @classmethod
    def from_artifact(cls, document: dict[str, Any]) -> Analysis:
        """Inverse of ``to_artifact``; ``ValueError`` on a foreign or malformed document."""
        if document.get("kind") != ARTIFACT_KIND or document.get("version") != ARTIFACT_VERSION:
            raise ValueError(f"not a {ARTIFACT_KIND} v{ARTIFACT_VERSION} artefact")
        try:
            r, f = document["rhythm"], document["features"]
            rhythm = Rhythm(
                **{k: np.asarray(r[k], dtype=np.float64) for k in _RHYTHM_ARRAYS},
                bpm=float(r["bpm"]),
                beats_per_bar=int(r["beats_per_bar"]),
                confidence=float(r["confidence"]),
                warnings=tuple(r["warnings"]),
                beat_division=int(r.get("beat_division", 2)),  # absent before compound meters
                bar_confidence=float(r.get("bar_confidence", 1.0)),  # absent: not measured
            )
            features = Features(
                **{k: np.asarray(f[k], dtype=np.float64) for k in _FEATURE_ARRAYS},
                frame_rate_hz=float(f["frame_rate_hz"]),
                series_rate_hz=float(f["series_rate_hz"]),
                dynamic_range_db=float(f["dynamic_range_db"]),
                timbre_db=np.zeros((0, N_MEL)),
            )
            sections = tuple(
                Section(float(a), float(b), str(lab), float(e))
                for a, b, lab, e in document["sections"]
            )
            return cls(
                duration_s=float(document["duration_s"]),
                rhythm=rhythm,
                features=features,
                sections=sections,
                drops_s=np.asarray(document["drops_s"], dtype=np.float64),
                source=dict(document["source"]),
                config=dict(document["config"]),
                warnings=tuple(document["warnings"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed analysis artefact: {exc!r}") from None


_RHYTHM_ARRAYS = ("beat_times_s", "beat_strength", "local_bpm", "downbeat_times_s")
_FEATURE_ARRAYS = (
    "bass",
    "mids",
    "highs",
    "loudness_db",
    "centroid_hz",
    "flux",
    "rolloff_hz",
    "onset_times_s",
    "onset_strength",
)
_DECIMALS = {  # what the artefact keeps: 0.1 ms for times, 1e-4 for 0..1 curves, 0.01 dB, 0.1 Hz
    "beat_times_s": 4,
    "downbeat_times_s": 4,
    "onset_times_s": 4,
    "drops_s": 4,
    "beat_strength": 4,
    "local_bpm": 2,
    "bass": 4,
    "mids": 4,
    "highs": 4,
    "flux": 4,
    "onset_strength": 4,
    "loudness_db": 2,
    "centroid_hz": 1,
    "rolloff_hz": 1,
}


def _list(x: np.ndarray) -> list[float]:
    return np.asarray(x, dtype=np.float64).tolist()


def _quantise(x: np.ndarray, name: str) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64), _DECIMALS[name])


def analyze_file(
    source: Source,
    *,
    progress: Progress | None = None,
    max_duration_s: float = MAX_DURATION_S,
    **options: Any,
) -> Analysis:
    """Decode ``source`` (bytes or path) and analyse it; see ``decode`` and ``analyze``."""
    _report(progress, "decode")
    audio = decode(source, max_duration_s=max_duration_s)
    return analyze(audio, progress=progress, **options)


def analyze(
    audio: Audio,
    *,
    progress: Progress | None = None,
    frame_rate_hz: float = 50.0,
    series_rate_hz: float = 10.0,
    rhythm_options: dict[str, Any] | None = None,
) -> Analysis:
    """Every layer of the analysis from decoded audio.

    Parameters
    ----------
    audio : Audio
        Mono samples at ``ANALYSIS_SR`` (as ``decode`` returns).
    progress : callable, optional
        Called as ``progress(stage, percent)`` when each stage starts and at 100 % at the end.
    frame_rate_hz, series_rate_hz : float > 0
        Rates of the band envelopes and of the dynamics/spectral curves, Hz.
    rhythm_options : dict, optional
        Keyword arguments for ``detect_rhythm``.
    """
    if audio.samples.ndim != 1 or audio.samples.shape[0] == 0:
        raise ValueError("audio.samples must be a non-empty mono array")
    duration_s = audio.duration_s
    _report(progress, "spectrogram")
    spec = compute_spectrogram(audio.samples, sr=audio.sr, n_fft=N_FFT, hop_length=HOP_LENGTH)
    _report(progress, "rhythm")
    rhythm = _quantised_rhythm(detect_rhythm(spec, **(rhythm_options or {})))
    _report(progress, "features")
    features = _quantised_features(
        compute_features(
            spec, duration_s=duration_s, frame_rate_hz=frame_rate_hz, series_rate_hz=series_rate_hz
        )
    )
    del spec
    _report(progress, "sections")
    sections, drops = detect_sections(features, rhythm, duration_s=duration_s)
    analysis = Analysis(
        duration_s=duration_s,
        rhythm=rhythm,
        features=features,
        sections=tuple(sections),
        drops_s=_quantise(drops, "drops_s"),
        source={
            "source_sr": audio.source_sr,
            "source_channels": audio.source_channels,
            "source_format": audio.source_format,
        },
        config=_config(audio.sr, frame_rate_hz, series_rate_hz, rhythm_options),
        warnings=_warnings(features, rhythm),
    )
    _report(progress, "done", 100.0)
    return analysis


def _report(progress: Progress | None, stage: str, percent: float | None = None) -> None:
    if progress is not None:
        progress(stage, _STAGES.get(stage, 100.0) if percent is None else percent)


def _quantised_rhythm(r: Rhythm) -> Rhythm:
    return Rhythm(
        **{k: _quantise(getattr(r, k), k) for k in _RHYTHM_ARRAYS},
        bpm=round(float(r.bpm), 3),
        beats_per_bar=int(r.beats_per_bar),
        confidence=round(float(r.confidence), 4),
        warnings=tuple(r.warnings),
        beat_division=int(r.beat_division),
        bar_confidence=round(float(r.bar_confidence), 3),
    )


def _quantised_features(f: Features) -> Features:
    return Features(
        **{k: _quantise(getattr(f, k), k) for k in _FEATURE_ARRAYS},
        frame_rate_hz=f.frame_rate_hz,
        series_rate_hz=f.series_rate_hz,
        dynamic_range_db=round(float(f.dynamic_range_db), 2),
        timbre_db=f.timbre_db,
    )


def _config(
    sr: int, frame_rate_hz: float, series_rate_hz: float, rhythm_options: dict | None
) -> dict[str, Any]:
    return {
        "engine": ENGINE,
        "engine_version": ENGINE_VERSION,
        "sr": sr,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "frame_rate_hz": frame_rate_hz,
        "series_rate_hz": series_rate_hz,
        "rhythm_options": dict(rhythm_options or {}),
    }


def _warnings(features: Features, rhythm: Rhythm) -> tuple[str, ...]:
    out: list[str] = []
    if features.loudness_db.max() <= SILENCE_DB:
        out.append(f"silent: the whole track is below {SILENCE_DB:g} dBFS")
    if len(rhythm.beat_times_s) == 0 and not rhythm.warnings:
        out.append("no_beats: no regular pulse was found; the beat grid is empty")
    out.extend(w for w in rhythm.warnings if w not in out)
    return tuple(out)
