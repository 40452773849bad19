"""A track's Genesis Map: served with its ETag, its picture, and an uploaded (external) map.

An uploaded map is announced by the gateway itself: ``map.generated`` of a candidate version,
built by ``lifecycle.map_generated`` — the one builder the analyzer and the reconciler use too,
so the event id (``<track>.v<n>.map``) cannot drift between producers. Handing the upload to
another service to announce was considered and not done: the bytes arrive here and must be
stored before anything is announced, so that service would only repeat what the gateway
already knows — one more queue, hop and failure mode — while the validator, which deduplicates
on the track version and not on the producer, would see no difference. A publish that is lost
after the map is stored is repeated by the reconciler (``lifecycle.event_moving_on``), and one
that fails at once gives the candidate up with a 503 (``versions.give_up_candidate``).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from contracts.base import SHA256_PATTERN
from contracts.genesis_map import UNION_TAGS, GenesisMapV4
from contracts.lifecycle import StoredMap, map_generated, map_key
from contracts.presets import EXTERNAL_PRESET
from infra.docstore import Track
from infra.errors import NotFound
from infra.objectstore import ObjectStream
from infra.web import ApiError
from services.gateway.cache import ReadCache
from services.gateway.map_integrity import is_intact
from services.gateway.ports import GatewayPorts
from services.gateway.usecases.versions import give_up_candidate, open_candidate
from services.gateway.views import check_track_id, newest_with, require_track

MAX_FIELD_ERRORS = 200
_SHA = re.compile(SHA256_PATTERN)


@dataclass(frozen=True, slots=True)
class MapRead:
    body: bytes | None
    """The map's bytes; None when the client's copy (``If-None-Match``) is current."""
    headers: dict[str, str]


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
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" at line {exc.lineno} column {exc.colno}"
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


async def read_map(
    ports: GatewayPorts, track_id: str, version: int | None, if_none_match: str | None
) -> MapRead:
    """The map of ``version`` (default: the newest finished one), unless the client has it;
    404 when there is none, 502 when the stored bytes no longer match their recorded hash."""
    track = await require_track(ports, track_id)
    record, map_key = await newest_with(ports, track, "map_key", version)
    etag = f'"{record.map_sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "X-K1-Analysis-Version": str(record.version),
    }
    if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
        return MapRead(None, headers)
    try:
        body = await ports.objects.get_bytes(map_key)
    except NotFound:
        raise ApiError(404, "not_found", "the map object is gone") from None
    if not await is_intact(body, record.map_sha256):
        raise ApiError(
            502,
            "map_corrupt",
            "the stored map does not match the hash recorded for it; it is not served",
        )
    return MapRead(body, headers)


async def submit_map(ports: GatewayPorts, cache: ReadCache, track: Track, raw: bytes) -> int:
    """Store an uploaded map as the candidate version of ``track`` and announce it for
    validation; its version number. 400/422 for a malformed map, 409 while the track is busy,
    503 (the candidate given up) when it cannot be stored or queued."""
    track_id = track.track_id
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
        await ports.publisher.publish(map_generated(track_id, version, uploaded, candidate=True))
    except Exception as exc:  # a store or the broker is down: drop the candidate, say 503
        raise await give_up_candidate(ports, track_id, version, exc) from None
    return version


async def open_picture(ports: GatewayPorts, track_id: str, version: int | None) -> ObjectStream:
    """The picture of ``version`` (default: the newest finished one), streamed; 404 if none."""
    check_track_id(track_id)
    track = await require_track(ports, track_id)
    _, plot_key = await newest_with(ports, track, "plot_key", version)
    try:
        return await ports.objects.open_stream(plot_key)
    except NotFound:
        raise ApiError(404, "not_found", "the picture object is gone") from None
