"""Guards for client uploads shared by the gateway and ingest (``K1_UPLOAD_*``).

A client that sends upload headers and then stalls or trickles holds a connection, a slot in
the gateway's pool to ingest and a spool file. :func:`paced` cuts a body that waits too long
for its next chunk or falls below a minimum average rate; :class:`UploadSlots` caps how many
uploads one client address and one token subject may have in flight at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.web import ApiError


class UploadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K1_UPLOAD_", env_file=".env", extra="ignore")

    idle_timeout_s: float = Field(
        default=30.0, gt=0, le=3600,
        description="An upload whose next body chunk does not arrive within this is cut (408)")
    min_rate_bytes_s: int = Field(
        default=16 * 1024, ge=0,
        description="Average body rate an upload must keep once the grace time is over "
                    "(408 below it; 0 turns the check off)")
    rate_grace_s: float = Field(
        default=10.0, ge=0, le=3600,
        description="Seconds from the start of a body before the minimum rate applies")
    max_per_client: int = Field(
        default=8, ge=1, le=10_000,
        description="Uploads one client address may have in flight per gateway process (429)")
    max_per_subject: int = Field(
        default=8, ge=1, le=10_000,
        description="Uploads one token subject may have in flight per gateway process (429)")
    url_ttl_s: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600,
        description="Life of a presigned upload URL; PUT and complete must happen within it")
    sweep_interval_s: float = Field(
        default=60.0, gt=0, le=86_400,
        description="How often ingest removes expired, never-completed presigned uploads")
    spool_dir: Path | None = Field(
        default=None, description="Where ingest spools upload bodies (unset: the system "
                                   "temporary folder)")

    @property
    def retry_after_s(self) -> int:
        """What a refused client is told to wait: the longest a stalled upload keeps a slot
        before it is cut (without the rate check, the idle timeout)."""
        return max(1, math.ceil(self.idle_timeout_s))


def too_slow(detail: str) -> ApiError:
    return ApiError(408, "upload_too_slow", detail)


async def paced(chunks: AsyncIterator[bytes], *, idle_timeout_s: float, min_rate_bytes_s: int,
                grace_s: float, clock: Callable[[], float] = time.monotonic
                ) -> AsyncIterator[bytes]:
    """Pass ``chunks`` through, raising 408 when the next one takes longer than
    ``idle_timeout_s`` or when, after ``grace_s``, the average rate since the first byte was
    awaited would fall below ``min_rate_bytes_s``."""
    started, seen = clock(), 0
    iterator = chunks.__aiter__()
    while True:
        wait_s = idle_timeout_s
        if min_rate_bytes_s > 0:  # the moment the average would drop below the minimum
            due_s = max(grace_s, seen / min_rate_bytes_s)
            wait_s = min(wait_s, due_s - (clock() - started))
        if wait_s <= 0:
            raise too_slow(f"the upload is slower than {min_rate_bytes_s} bytes/s")
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), timeout=wait_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if wait_s < idle_timeout_s:
                raise too_slow(f"the upload is slower than {min_rate_bytes_s} bytes/s") from None
            raise too_slow(f"no upload data arrived for {idle_timeout_s:g} s") from None
        seen += len(chunk)
        yield chunk


class UploadSlots:
    """Counts uploads in flight per key (``client:<address>``, ``subject:<sub>``) in this
    process; :meth:`hold` refuses with 429 and ``Retry-After`` past a key's limit."""

    def __init__(self, *, per_client: int, per_subject: int, retry_after_s: int) -> None:
        self._limits = {"client": per_client, "subject": per_subject}
        self._busy: Counter[str] = Counter()
        self.retry_after_s = retry_after_s

    def in_flight(self, key: str) -> int:
        return self._busy[key]

    @contextlib.contextmanager
    def hold(self, *, client: str | None, subject: str | None = None) -> Iterator[None]:
        keys = [f"{kind}:{value}" for kind, value in (("client", client), ("subject", subject))
                if value]
        for key in keys:
            kind = key.split(":", 1)[0]
            if self._busy[key] >= self._limits[kind]:
                raise ApiError(429, "too_many_uploads",
                               f"at most {self._limits[kind]} uploads at once per {kind}; "
                               "wait for one to finish",
                               headers={"Retry-After": str(self.retry_after_s)})
        for key in keys:
            self._busy[key] += 1
        try:
            yield
        finally:
            for key in keys:
                self._busy[key] -= 1
                if self._busy[key] <= 0:
                    del self._busy[key]
