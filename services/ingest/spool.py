"""Streaming an upload to a temporary file: hashed and size-limited as it arrives, never whole
in memory; and probing the spooled file with libsndfile."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from services.ingest.domain import NotDecodable, Probe, TooLarge, decoder_message

HEAD_BYTES = 64
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Spooled:
    path: Path
    size_bytes: int
    sha256: str
    head: bytes

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


async def spool(
    chunks: AsyncIterable[bytes], *, limit_bytes: int, tmp_dir: Path | None = None
) -> Spooled:
    """Write ``chunks`` to a temp file, hashing as it goes; TooLarge past ``limit_bytes``."""
    digest, size, head = hashlib.sha256(), 0, b""
    fd, name = tempfile.mkstemp(prefix="k1-upload-", dir=tmp_dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit_bytes:
                    raise TooLarge(f"upload exceeds the limit of {limit_bytes} bytes")
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Spooled(path=path, size_bytes=size, sha256=digest.hexdigest(), head=head)


def probe_file(path: Path, *, fmt: str) -> Probe:
    """Open the file with libsndfile, read a block and a block near the end (catches truncation)."""
    try:
        with sf.SoundFile(str(path)) as f:
            frames, sr, channels = f.frames, f.samplerate, f.channels
            if frames <= 0 or sr <= 0:
                raise NotDecodable(f"the {fmt.upper()} file holds no audio frames")
            block = f.read(min(frames, sr), dtype="float32", always_2d=True)
            if frames > 2 * sr:
                f.seek(max(0, frames - sr))
                tail = f.read(sr, dtype="float32", always_2d=True)
                block = np.concatenate([block, tail])
    except NotDecodable:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raw = getattr(exc, "error_string", None) or str(exc)
        log.info("decode probe of a %s upload failed: %s", fmt, raw)
        raise NotDecodable(decoder_message(raw, fmt=fmt)) from None
    if block.size == 0:
        raise NotDecodable(f"the {fmt.upper()} file is truncated: no samples could be read")
    if not np.isfinite(block).all():
        raise NotDecodable("the audio contains NaN or infinite samples")
    return Probe(duration_s=frames / sr, sample_rate_hz=sr, channels=channels, format=fmt)
