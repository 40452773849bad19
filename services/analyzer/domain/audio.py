"""Decoding: any file libsndfile reads (WAV, FLAC, OGG/Vorbis, MP3, ...) to mono float32 at the
analysis rate.

The header is checked before anything is decoded (a 3-hour file is refused at once); the stream is
then read in blocks, mixed down and resampled with soxr block by block, so peak memory is the
output plus one block whatever the source rate and channel count.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from .errors import Empty, NonFinite, NotAudio, TooLong, TooShort, Truncated
from .types import ANALYSIS_SR, Audio

MIN_DURATION_S = 2.0
MAX_DURATION_S = 20 * 60.0
_BLOCK_FRAMES = 1 << 17
_INT16_SUBTYPES = frozenset({"PCM_16", "PCM_S8", "PCM_U8"})
_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b"\xff\xfb", b"\xff\xf3")
_TRUNCATION_HINTS = (  # phrases of libsndfile's log for a cut-off WAV/AIFF and Ogg stream
    "should be",
    "ended unexpectedly",
    "lacks an end-of-stream",
    "Junk after the last page",
)

Source = bytes | bytearray | memoryview | str | os.PathLike


def decode(
    source: Source,
    *,
    sr: int = ANALYSIS_SR,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = MAX_DURATION_S,
) -> Audio:
    """Decode an audio file to mono float32 at ``sr``.

    Parameters
    ----------
    source : bytes-like or path
        The whole file (bytes) or a path to it.
    sr : int > 0
        Target sample rate, Hz.
    min_duration_s, max_duration_s : float
        Accepted duration range, seconds. The maximum is checked from the header first.

    Returns
    -------
    Audio
        ``samples`` of shape ``(n,)`` with ``n ≈ duration_s * sr``.

    Raises
    ------
    Empty, NotAudio, Truncated, TooShort, TooLong, NonFinite
        Subclasses of ``AnalysisError`` naming what is wrong with the input.
    OSError
        The path cannot be read.
    """
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    stream, head = _open_source(source)
    try:
        snd = sf.SoundFile(stream)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        if head.startswith(_MAGIC):
            raise Truncated(f"the audio header is incomplete or corrupt ({_reason(exc)})") from None
        raise NotAudio(
            "not a readable audio file (WAV, FLAC, OGG/Vorbis or MP3 expected)"
        ) from None
    with snd:
        _check_header(snd, min_duration_s=min_duration_s, max_duration_s=max_duration_s)
        samples = _read_mono_resampled(snd, sr=sr, max_duration_s=max_duration_s)
        audio = Audio(samples, sr, snd.samplerate, snd.channels, snd.format)
    if audio.duration_s < min_duration_s:
        raise TooShort(
            f"audio lasts {audio.duration_s:.2f} s; at least {min_duration_s:g} s needed"
        )
    return audio


def _open_source(source: Source) -> tuple[BinaryIO | str, bytes]:
    """What ``SoundFile`` opens (a stream or the path) and the first bytes, for magic sniffing."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise Empty("the file is empty (0 bytes)")
        return io.BytesIO(data), data[:4]
    path = os.fspath(source)
    with open(path, "rb") as stream:
        head = stream.read(4)
    if not head:
        raise Empty(f"the file is empty (0 bytes): {path}")
    return path, head


def _reason(exc: BaseException) -> str:
    text = str(exc).split(":")[-1].strip()
    return text[:120] or type(exc).__name__


def _check_header(snd: sf.SoundFile, *, min_duration_s: float, max_duration_s: float) -> None:
    if snd.samplerate <= 0 or snd.channels <= 0:
        raise NotAudio("the audio header has no valid sample rate or channel count")
    if snd.frames <= 0:
        if _header_says_truncated(snd):
            raise Truncated("the file ends before its first audio frame")
        raise Empty("the file holds no audio frames")
    duration_s = snd.frames / snd.samplerate
    if duration_s > max_duration_s:
        raise TooLong(
            f"audio lasts {duration_s / 60:.1f} min; the maximum is {max_duration_s / 60:g} min"
        )
    if _header_says_truncated(snd):
        raise Truncated("the file is shorter than its header announces (truncated upload?)")
    if duration_s < min_duration_s:
        raise TooShort(f"audio lasts {duration_s:.2f} s; at least {min_duration_s:g} s needed")


def _header_says_truncated(snd: sf.SoundFile) -> bool:
    """libsndfile notes a data chunk longer than the file (``should be``) in its log."""
    try:
        log = snd.extra_info
    except Exception:
        return False
    return any(hint in log for hint in _TRUNCATION_HINTS)


def _read_mono_resampled(snd: sf.SoundFile, *, sr: int, max_duration_s: float) -> np.ndarray:
    """Read block by block, mix down to mono and resample; shape (n,), float32."""
    dtype = "int16" if snd.subtype in _INT16_SUBTYPES else "float32"
    scale = np.float32((1.0 / 32768.0 if dtype == "int16" else 1.0) / snd.channels)
    resampler = (
        None
        if snd.samplerate == sr
        else soxr.ResampleStream(snd.samplerate, sr, 1, dtype="float32")
    )
    max_frames = int(max_duration_s * snd.samplerate * 1.02) + _BLOCK_FRAMES
    chunks: list[np.ndarray] = []
    n_read = 0
    while True:
        try:
            block = snd.read(_BLOCK_FRAMES, dtype=dtype, always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise Truncated(f"the audio stream is corrupt or cut off ({_reason(exc)})") from None
        last = block.shape[0] < _BLOCK_FRAMES
        n_read += block.shape[0]
        if n_read > max_frames:
            raise TooLong(f"audio lasts longer than the maximum of {max_duration_s / 60:g} min")
        mono = _mix_down(block, scale)
        if dtype == "float32" and not np.isfinite(mono).all():
            raise NonFinite("the audio contains NaN or infinite sample values")
        chunks.append(mono if resampler is None else resampler.resample_chunk(mono, last=last))
        if last:
            break
    _check_complete(snd, n_read)
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def _mix_down(block: np.ndarray, scale: np.float32) -> np.ndarray:
    """Mean over channels of a (frames, channels) block (``scale`` folds in 1/channels), float32."""
    if block.shape[1] == 1:
        mono = block[:, 0].astype(np.float32)
        if scale != 1.0:
            mono *= scale
        return mono
    return block.astype(np.float32) @ np.full(block.shape[1], scale, dtype=np.float32)


def _check_complete(snd: sf.SoundFile, n_read: int) -> None:
    """A decoder that stops short of the header's frame count met a cut-off stream."""
    # MP3 lengths are estimates without a Xing/LAME header: allow 1 % or one second of slack.
    slack = max(int(0.01 * snd.frames), snd.samplerate) if snd.format == "MP3" else 0
    if n_read == 0:
        raise Empty("the file holds no audio frames")
    if n_read + slack < snd.frames:
        got, want = n_read / snd.samplerate, snd.frames / snd.samplerate
        raise Truncated(f"the audio stops at {got:.1f} s but its header announces {want:.1f} s")
