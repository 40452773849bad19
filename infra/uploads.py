"""Guards for client uploads shared by the gateway and ingest (``K1_UPLOAD_*``).

A client that sends upload headers and then stalls or trickles holds a connection, a slot in
the gateway's pool to ingest and a spool file. :func:`paced` cuts a body that waits too long
for its next chunk or falls below a minimum average rate; :class:`UploadSlots` caps how many
uploads one client address and one token subject may have in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

from infra.upload_settings import UploadSettings
from infra.web import ApiError

__all__ = ["UploadSettings", "UploadSlots", "declared_length", "limited", "paced", "too_slow"]


def declared_length(headers: Mapping[str, str], limit: int) -> int | None:
    """The body's ``Content-Length`` (None when not declared): 400 when it is not a number,
    413 when it is over ``limit``, before any of the body is read."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "bad_request", "Content-Length is not a number")
    if int(raw) > limit:
        raise ApiError(413, "too_large", f"the upload limit is {limit} bytes")
    return int(raw)


async def limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass chunks through, failing with 413 as soon as more than ``limit`` bytes came."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise ApiError(413, "too_large", f"the upload limit is {limit} bytes")
        yield chunk


def too_slow(detail: str) -> ApiError:
    return ApiError(408, "upload_too_slow", detail)


async def paced(
    chunks: AsyncIterator[bytes],
    *,
    idle_timeout_s: float,
    min_rate_bytes_s: int,
    grace_s: float,
    clock: Callable[[], float] = time.monotonic,
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
        keys = [
            f"{kind}:{value}" for kind, value in (("client", client), ("subject", subject)) if value
        ]
        for key in keys:
            kind = key.split(":", 1)[0]
            if self._busy[key] >= self._limits[kind]:
                raise ApiError(
                    429,
                    "too_many_uploads",
                    f"at most {self._limits[kind]} uploads at once per {kind}; "
                    "wait for one to finish",
                    headers={"Retry-After": str(self.retry_after_s)},
                )
        for key in keys:
            self._busy[key] += 1
        try:
            yield
        finally:
            for key in keys:
                self._busy[key] -= 1
                if self._busy[key] <= 0:
                    del self._busy[key]
