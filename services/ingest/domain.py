"""Pure rules of accepting audio: what a file really is, whether it decodes, how to name it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ACCEPTED_MEDIA_TYPES = frozenset(
    {
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "audio/vnd.wave",
        "audio/flac",
        "audio/x-flac",
        "audio/ogg",
        "audio/vorbis",
        "application/ogg",
        "audio/mpeg",
        "audio/mp3",
        "audio/mpeg3",
        "application/octet-stream",
    }
)
"""Declared media types an upload may carry; the real type is sniffed from the bytes."""
SNIFFED_MEDIA_TYPE = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
}
MIN_DURATION_S = 2.0
MAX_FILENAME_CHARS = 120


class IngestError(Exception):
    """An upload we refuse; ``code`` is machine-readable, ``status`` the HTTP status to use."""

    code = "ingest_error"
    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedMediaType(IngestError):
    code, status = "unsupported_media_type", 415


class TooLarge(IngestError):
    code, status = "too_large", 413


class NotDecodable(IngestError):
    code = "not_decodable"


class BadDuration(IngestError):
    code = "bad_duration"


def check_declared_type(content_type: str | None) -> None:
    """Refuse a declared media type that cannot be audio (the bytes are sniffed later)."""
    base = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if base not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"media type {base!r} is not accepted; send WAV, FLAC, OGG/Vorbis or MP3 audio"
        )


def sniff_format(head: bytes) -> str | None:
    """The audio container from the first bytes ('wav', 'flac', 'ogg', 'mp3') or None."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or _is_mpeg_frame_sync(head):
        return "mp3"
    return None


def _is_mpeg_frame_sync(head: bytes) -> bool:
    # 11 sync bits, MPEG version != reserved, layer III (bits 01).
    return (
        len(head) >= 2
        and head[0] == 0xFF
        and (head[1] & 0xE0) == 0xE0
        and (head[1] & 0x18) != 0x08
        and (head[1] & 0x06) == 0x02
    )


def require_format(head: bytes) -> str:
    fmt = sniff_format(head)
    if fmt is None:
        raise UnsupportedMediaType(
            "the file is not WAV, FLAC, OGG/Vorbis or MP3 audio (its first bytes match none)"
        )
    return fmt


@dataclass(frozen=True, slots=True)
class Probe:
    duration_s: float
    sample_rate_hz: int
    channels: int
    format: str


def check_probe(probe: Probe, *, max_duration_s: float) -> None:
    """Refuse audio that is too short or too long to analyse."""
    if probe.duration_s < MIN_DURATION_S:
        raise BadDuration(
            f"audio is too short: {probe.duration_s:.2f} s; at least {MIN_DURATION_S:.0f} s "
            "is needed"
        )
    if probe.duration_s > max_duration_s:
        raise BadDuration(
            f"audio is too long: {probe.duration_s / 60:.1f} min; the limit is "
            f"{max_duration_s / 60:.1f} min"
        )


_DECODER_MESSAGES = (
    ("malformed", "the file is damaged or incomplete"),
    ("unimplemented format", "its encoding is not supported"),
    ("not recognised", "its format is not recognised"),
    ("not a regular file", "no audio stream could be found in it"),
    ("lost sync", "the audio stream is damaged"),
    ("fseek", "the file is truncated"),
    ("unexpected end", "the file is truncated"),
)
"""libsndfile's messages (matched lower-case) and what a user is told instead."""


def decoder_message(raw: str, *, fmt: str) -> str:
    """What a user is told when libsndfile cannot open or read a file: a fixed sentence per
    known failure, never the decoder's own text (it names the server's temporary file)."""
    lowered = raw.lower()
    reason = next(
        (text for needle, text in _DECODER_MESSAGES if needle in lowered),
        "the file may be damaged or truncated",
    )
    return f"the {fmt.upper()} file cannot be decoded: {reason}"


_PATH_CHARS = re.compile(r'[/\\:*?"<>|]')
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories dropped from names: controls, format characters (bidi overrides,
zero-width spaces), surrogates, private use, unassigned, line/paragraph separators."""
_JOINERS = frozenset("\u200c\u200d")
"""Zero-width (non-)joiners are format characters that scripts and emoji sequences need."""


def sanitise_filename(name: str | None, *, fallback: str = "upload") -> str:
    """A display-safe base name that keeps its Unicode: NFC, no directories, no control,
    invisible or path characters, whitespace collapsed, at most ``MAX_FILENAME_CHARS``."""
    raw = unicodedata.normalize("NFC", (name or "").replace("\\", "/").split("/")[-1])
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in raw
        if unicodedata.category(ch) not in _INVISIBLE or ch.isspace() or ch in _JOINERS
    )
    cleaned = re.sub(r"\s+", " ", _PATH_CHARS.sub("_", kept)).strip(" ._")
    if not cleaned:
        return fallback
    if len(cleaned) > MAX_FILENAME_CHARS:
        stem, dot, ext = cleaned.rpartition(".")
        keep = ext[:10] if dot and len(ext) <= 10 else ""
        cleaned = cleaned[: MAX_FILENAME_CHARS - len(keep) - 1].rstrip(" ._") + (
            "." + keep if keep else ""
        )
    return cleaned
