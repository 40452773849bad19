"""Typed errors for input the analysis refuses.

Every error carries a stable machine ``code`` (for events, HTTP problem documents and the CLI) and
a human message naming the problem. Silence is *not* an error: it yields a valid map flagged
``warning``.
"""

from __future__ import annotations


class AnalysisError(Exception):
    """Base class: the input cannot be analysed. ``code`` is stable; the message is for humans."""

    code = "analysis_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        """``{"code": ..., "message": ...}`` for events and API responses."""
        return {"code": self.code, "message": self.message}


class NotAudio(AnalysisError):
    """The bytes are not a supported audio format (WAV, FLAC, OGG/Vorbis, MP3, ...)."""

    code = "not_audio"


class Truncated(AnalysisError):
    """The file ends before the length its header announces, or its stream is corrupt midway."""

    code = "truncated"


class Empty(AnalysisError):
    """No bytes at all, or a valid header with no audio frames."""

    code = "empty"


class TooShort(AnalysisError):
    """Shorter than the minimum duration the analysis needs."""

    code = "too_short"


class TooLong(AnalysisError):
    """Longer than the configured maximum duration (checked from the header before decoding)."""

    code = "too_long"


class NonFinite(AnalysisError):
    """The decoded samples contain NaN or infinity."""

    code = "non_finite"


ERROR_CODES: dict[str, type[AnalysisError]] = {
    cls.code: cls
    for cls in (AnalysisError, NotAudio, Truncated, Empty, TooShort, TooLong, NonFinite)
}
"""Every error class by its code."""
