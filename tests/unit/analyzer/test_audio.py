"""Decoding: formats, rates, channel counts, and every bad-input case of issue 3."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from services.analyzer.domain.audio import decode
from services.analyzer.domain.errors import (
    ERROR_CODES,
    AnalysisError,
    Empty,
    NonFinite,
    NotAudio,
    TooLong,
    TooShort,
    Truncated,
)
from services.analyzer.domain.types import ANALYSIS_SR


def _sine(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def _encode(x: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, x, sr, format=fmt, subtype=subtype)
    return buffer.getvalue()


FORMATS = [
    ("WAV", "PCM_16"),
    ("WAV", "PCM_24"),
    ("WAV", "FLOAT"),
    ("FLAC", "PCM_16"),
    ("OGG", "VORBIS"),
    ("MP3", "MPEG_LAYER_III"),
]


@pytest.mark.parametrize("fmt,subtype", FORMATS)
def test_every_format_decodes_to_mono_at_the_analysis_rate(fmt, subtype):
    x = _sine(3.0, 44100)
    audio = decode(_encode(np.stack([x, x], axis=1), 44100, fmt, subtype))
    assert audio.sr == ANALYSIS_SR and audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.source_format == fmt and audio.source_channels == 2 and audio.source_sr == 44100
    assert audio.duration_s == pytest.approx(3.0, abs=0.06)
    rms = float(np.sqrt(np.mean(audio.samples[2000:-2000] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("sr,channels", [(8000, 1), (22050, 1), (48000, 2), (96000, 6)])
def test_any_rate_and_channel_count(sr, channels):
    x = _sine(2.5, sr, freq=300.0)
    audio = decode(_encode(np.tile(x[:, None], (1, channels)), sr, "WAV", "PCM_16"))
    assert audio.samples.shape[0] == pytest.approx(2.5 * ANALYSIS_SR, abs=3)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert np.argmax(spectrum) / audio.duration_s == pytest.approx(300.0, abs=1.0)


def test_mix_down_averages_channels():
    x = _sine(2.5, 22050)
    audio = decode(_encode(np.stack([x, -x, 2 * x], axis=1), 22050, "WAV", "FLOAT"))
    np.testing.assert_allclose(audio.samples, 2 * x / 3, atol=1e-6)


def test_path_and_bytes_agree(tmp_path):
    data = _encode(_sine(2.5, 44100), 44100, "FLAC")
    (tmp_path / "a.flac").write_bytes(data)
    np.testing.assert_array_equal(decode(tmp_path / "a.flac").samples, decode(data).samples)


def test_silence_is_not_an_error():
    audio = decode(_encode(np.zeros(44100 * 3, np.float32), 44100, "WAV"))
    assert not audio.samples.any()


def test_empty_bytes_and_empty_file(tmp_path):
    with pytest.raises(Empty):
        decode(b"")
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(Empty):
        decode(tmp_path / "e.wav")


def test_header_without_frames_is_empty():
    with pytest.raises(Empty):
        decode(_encode(np.zeros((0, 1), np.float32), 44100, "WAV"))


def test_not_audio():
    for data in (b"hello world, this is not audio" * 10, b"%PDF-1.4\n" + bytes(2000), b"\x00"):
        with pytest.raises(NotAudio) as info:
            decode(data)
        assert info.value.code == "not_audio" and "audio" in str(info.value)


@pytest.mark.parametrize("fmt,subtype", FORMATS)
def test_truncated(fmt, subtype):
    data = _encode(_sine(6.0, 44100), 44100, fmt, subtype)
    with pytest.raises(Truncated):
        decode(data[: len(data) * 2 // 3])


def test_too_short():
    with pytest.raises(TooShort) as info:
        decode(_encode(_sine(1.5, 44100), 44100, "WAV"))
    assert "1.50 s" in str(info.value)


def test_too_long_is_read_from_the_header_before_decoding():
    data = _encode(np.zeros(8000 * 60 * 25, np.float32), 8000, "FLAC")  # 25 min of silence
    with pytest.raises(TooLong):
        decode(data)
    with pytest.raises(TooLong):  # a cut file still announces 25 min: refused before any decoding
        decode(data[: len(data) // 3])
    assert decode(data, max_duration_s=30 * 60).duration_s == pytest.approx(25 * 60, abs=0.1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(bad):
    x = _sine(3.0, 22050)
    x[30000] = bad
    with pytest.raises(NonFinite):
        decode(_encode(x, 22050, "WAV", "FLOAT"))


def test_garbage_never_crashes_or_hangs():
    rng = np.random.default_rng(7)
    prefixes = [
        b"",
        b"RIFF",
        b"RIFF\x10\x00\x00\x00WAVEfmt ",
        b"fLaC",
        b"OggS",
        b"ID3\x03",
        b"\xff\xfb",
    ]
    for i in range(150):
        data = (
            prefixes[i % len(prefixes)]
            + rng.integers(0, 256, rng.integers(1, 3000), dtype=np.uint8).tobytes()
        )
        try:
            decode(data)
        except AnalysisError as exc:
            assert exc.code in ERROR_CODES


def test_error_codes_are_distinct_and_serialisable():
    classes = [NotAudio, Truncated, Empty, TooShort, TooLong, NonFinite]
    assert len({c.code for c in classes}) == len(classes)
    assert all(issubclass(c, AnalysisError) for c in classes)
    assert TooShort("x").to_dict() == {"code": "too_short", "message": "x"}
