"""Genesis Maps: download (ETag), upload an externally made one, and the map's picture."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Stream
from pydantic import ValidationError

from contracts.base import SHA256_PATTERN
from contracts.device_limits import DEFAULT_LIMITS
from contracts.genesis_map import UNION_TAGS, GenesisMapV4
from contracts.lifecycle import StoredMap, map_generated, map_key
from contracts.presets import EXTERNAL_PRESET
from infra.docstore import Track
from infra.errors import NotFound
from infra.web import ApiError, errors
from services.gateway.cache import ReadCache
from services.gateway.controllers.analysis import accepted, check_idle, unavailable
from services.gateway.map_integrity import is_intact
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import TaskAccepted
from services.gateway.views import API, check_track_id, newest_with, require_track

Version = Annotated[int | None, Parameter(ge=1, le=100_000, description="Analysis version")]
IfNoneMatch = Annotated[str | None, Parameter(header="if-none-match", max_length=1000)]
MAX_MAP_UPLOAD_BYTES = DEFAULT_LIMITS.max_map_bytes
MAX_FIELD_ERRORS = 200
_SHA = re.compile(SHA256_PATTERN)
log = logging.getLogger("k1.gateway")


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Every schema error at its dotted path (``layers.rhythm.beat_grid_ms.3``)."""
    out = []
    for err in exc.errors(include_url=False, include_input=False)[:MAX_FIELD_ERRORS]:
        parts = [
            str(p) for p in err["loc"] if not (isinstance(p, str) and (p in UNION_TAGS or "[" in p))
        ]
        out.append({"field": ".".join(parts) or "(document)", "message": err["msg"][:300]})
    return out


def parse_map(raw: bytes) -> GenesisMapV4:
    """400 for malformed JSON; 422 listing every field error for a schema-invalid map."""
    try:
        document: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise ApiError(400, "malformed_json", f"the body is not valid JSON{where}") from None
    except RecursionError:  # e.g. 100k nested brackets: the parser gives up, not the server
        raise ApiError(400, "malformed_json", "the body is nested too deeply") from None
    try:
        parsed = GenesisMapV4.model_validate(document)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise ApiError(
            422,
            "invalid_map",
            f"the map fails the Genesis Map v4 schema ({len(errors)} problems)",
            extra={"fields": errors},
        ) from None
    if not _SHA.match(parsed.metadata.hashes["map_sha256"]):
        raise ApiError(
            422,
            "invalid_map",
            "the map fails the Genesis Map v4 schema",
            extra={
                "fields": [
                    {
                        "field": "metadata.hashes.map_sha256",
                        "message": "must be 64 lowercase hex characters",
                    }
                ]
            },
        )
    return parsed


async def open_candidate(ports: GatewayPorts, track: Track) -> int:
    """Open the candidate version of an uploaded map; the current version stays as it is."""
    check_idle(track)
    moved = await ports.docs.tracks.open_candidate(
        track.track_id, from_version=track.analysis_version
    )
    if not moved.applied or moved.track is None or moved.track.candidate_version is None:
        raise ApiError(409, "busy", f"track {track.track_id} changed meanwhile; try again")
    version = moved.track.candidate_version
    await ports.docs.analyses.add(track.track_id, version, preset=EXTERNAL_PRESET)
    return version


async def give_up_candidate(
    ports: GatewayPorts, track_id: str, version: int, exc: Exception
) -> ApiError:
    """The uploaded map could not be queued: its version fails, the current one stays."""
    log.warning(
        "could not queue an uploaded map: %s", type(exc).__name__, extra={"track_id": track_id}
    )
    with contextlib.suppress(Exception):  # the reconciler drops it later if this fails too
        await ports.docs.analyses.update(
            track_id, version, outcome="failed", error_reason="the map could not be queued; retry"
        )
        await ports.docs.tracks.drop_candidate(track_id, version=version)
    return unavailable()


class MapController(Controller):
    path = f"{API}/tracks/{{track_id:str}}"
    tags = ["maps"]

    @get(
        "/genesis-map",
        opt={"role": "viewer"},
        media_type="application/json",
        responses=errors(400, 401, 403, 404, 502),
        summary="The Genesis Map (JSON); ETag is its map_sha256, If-None-Match gives 304",
    )
    async def get_map(
        self,
        track_id: str,
        ports: GatewayPorts,
        version: Version = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        track = await require_track(ports, track_id)
        record = await newest_with(ports, track, "map_key", version)
        etag = f'"{record.map_sha256}"'
        headers = {
            "ETag": etag,
            "Cache-Control": "private, no-cache",
            "X-K1-Analysis-Version": str(record.version),
        }
        if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
            return Response(b"", status_code=304, headers=headers)
        try:
            body = await ports.objects.get_bytes(record.map_key)  # type: ignore[arg-type]
        except NotFound:
            raise ApiError(404, "not_found", "the map object is gone") from None
        if not await is_intact(body, record.map_sha256):
            raise ApiError(
                502,
                "map_corrupt",
                "the stored map does not match the hash recorded for it; it is not served",
            )
        return Response(body, media_type="application/json", headers=headers)

    @post(
        "/genesis-map",
        opt={"role": "operator"},
        status_code=202,
        responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
        request_max_body_size=MAX_MAP_UPLOAD_BYTES,
        summary="Upload an externally made Genesis Map; it is validated asynchronously",
        description="The map becomes a candidate version: the current version stays "
        "current, served and deployable while it is validated. Accepted, it "
        "becomes current; rejected, the track is unchanged and the task "
        "(`status_url`) and the track's `candidate` say why. 409 while the "
        "track is being analysed or another uploaded map is validated.",
    )
    async def put_map(
        self, track_id: str, request: Request, ports: GatewayPorts, cache: ReadCache
    ) -> Response[TaskAccepted]:
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the map as application/json")
        track = await require_track(ports, track_id)
        raw = await request.body()
        parsed = await asyncio.to_thread(parse_map, raw)  # up to 4 MiB: not on the loop
        version = await open_candidate(ports, track)
        cache.invalidate(track_id)
        key = map_key(track_id, version)
        map_sha = parsed.metadata.hashes["map_sha256"]
        try:
            stored = await ports.objects.put_bytes(key, raw, content_type="application/json")
            await ports.docs.analyses.update(
                track_id, version, map_key=key, map_sha256=map_sha, bpm=parsed.global_metrics.bpm
            )
            uploaded = StoredMap(key, map_sha, stored.sha256, stored.size_bytes, EXTERNAL_PRESET)
            await ports.publisher.publish(
                map_generated(track_id, version, uploaded, candidate=True)
            )
        except Exception as exc:  # a store or the broker is down: drop the candidate, say 503
            raise await give_up_candidate(ports, track_id, version, exc) from None
        return accepted(track_id, version)

    @get(
        "/picture.png",
        opt={"role": "viewer"},
        media_type="image/png",
        responses=errors(400, 401, 403, 404),
        summary="The picture of the map (PNG)",
    )
    async def picture(self, track_id: str, ports: GatewayPorts, version: Version = None) -> Stream:
        check_track_id(track_id)
        track = await require_track(ports, track_id)
        record = await newest_with(ports, track, "plot_key", version)
        try:
            stream = await ports.objects.open_stream(record.plot_key)  # type: ignore[arg-type]
        except NotFound:
            raise ApiError(404, "not_found", "the picture object is gone") from None
        return Stream(
            stream,
            media_type="image/png",
            headers={
                "Content-Length": str(stream.info.size_bytes),
                "Cache-Control": "private, max-age=300",
            },
        )
