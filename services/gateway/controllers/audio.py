"""The original audio of a track, for the dashboard's player (and any client with a token).

Streamed from the object store in chunks, never held in memory; one byte range
(``Range: bytes=a-b``, ``a-``, ``-n``) is answered with 206, an unsatisfiable one with 416.
Tracks have no per-user owner (the same audio uploaded twice is one track), so reading the
audio needs what reading its map needs: a viewer token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Stream

from infra.errors import NotFound
from infra.objectstore import ObjectStream
from infra.web import ApiError, errors
from services.gateway.ports import GatewayPorts
from services.gateway.views import API, require_track

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte of one ``Range`` header over ``size`` bytes; None to
    send the whole object (no header, another unit, several ranges); 416 when it misses."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None  # several ranges or another unit: the whole body is a valid answer
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise ApiError(
            416,
            "range_not_satisfiable",
            f"the audio has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


async def sliced(stream: ObjectStream, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes ``start..end`` (inclusive) of the stream, closing it when done or abandoned."""
    pos = 0
    try:
        async for chunk in stream:
            lo, hi = max(start - pos, 0), min(end + 1 - pos, len(chunk))
            pos += len(chunk)
            if lo < hi:
                yield chunk[lo:hi]
            if pos > end:
                break
    finally:
        await stream.aclose()


class AudioController(Controller):
    path = f"{API}/tracks/{{track_id:str}}"
    tags = ["tracks"]

    @get(
        "/audio",
        opt={"role": "viewer"},
        responses={
            code: ResponseSpec(
                data_container=bytes,
                media_type="audio/*",
                description=meaning,
                generate_examples=False,
            )
            for code, meaning in ((200, "The whole file"), (206, "The byte range asked for"))
        }
        | errors(400, 401, 403, 404),
        summary="The track's original audio, as uploaded (one byte range: 206)",
        description="Streams the stored file with its sniffed media type. `Range: bytes=a-b` "
        "(one range) is answered with 206 and `Content-Range`; a range beyond the file with "
        "416 and `Content-Range: bytes */<size>`.",
    )
    async def audio(self, track_id: str, request: Request, ports: GatewayPorts) -> Stream:
        track = await require_track(ports, track_id)
        try:
            stream = await ports.objects.open_stream(track.audio_key)
        except NotFound:
            raise ApiError(404, "not_found", "the audio object is gone") from None
        size = stream.info.size_bytes
        try:
            wanted = byte_range(request.headers.get("range"), size)
        except ApiError:
            await stream.aclose()
            raise
        start, end = wanted or (0, size - 1)
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Length": str(end - start + 1),
            "Cache-Control": "private, max-age=300",
        }
        if wanted is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Stream(
            sliced(stream, start, end),
            media_type=track.content_type or "application/octet-stream",
            status_code=206 if wanted is not None else 200,
            headers=headers,
        )
