"""Serving the local folder store's signed URLs over HTTP (GET to download, PUT to upload).

Only used when the object store is the local folder (one machine); with S3/MinIO, presigned
URLs point at the object store itself. A URL is valid for one key, one method, until it expires.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, Router, get, put
from litestar.params import Parameter
from litestar.response import Stream

from infra.errors import InvalidKey, InvalidSignature, NotFound, SignatureExpired
from infra.objectstore import ObjectStore
from infra.web import ApiError

Sig = Annotated[str, Parameter(query="sig", max_length=128)]
Expires = Annotated[str, Parameter(query="expires", max_length=20)]


def _verify(store: ObjectStore, key: str, method: str, expires: str, sig: str) -> None:
    signer = getattr(store, "signer", None)
    if signer is None:
        raise ApiError(404, "not_found", "this store does not serve signed URLs")
    try:
        signer.verify(key, method=method, expires=expires, signature=sig)
    except SignatureExpired:
        raise ApiError(403, "expired", "this link has expired") from None
    except (InvalidSignature, InvalidKey):
        raise ApiError(403, "forbidden", "this link is not valid for that object") from None


def objects_router(store: ObjectStore, *, max_put_bytes: int) -> Router:
    @get("/{key:path}")
    async def download(key: str, expires: Expires, sig: Sig) -> Stream:
        key = key.lstrip("/")
        _verify(store, key, "GET", expires, sig)
        try:
            stream = await store.open_stream(key)
        except NotFound:
            raise ApiError(404, "not_found", "no such object") from None
        return Stream(
            stream,
            media_type=stream.info.content_type,
            headers={"Content-Length": str(stream.info.size_bytes)},
        )

    @put("/{key:path}", status_code=200, request_max_body_size=None)
    async def upload(key: str, request: Request, expires: Expires, sig: Sig) -> Response:
        key = key.lstrip("/")
        _verify(store, key, "PUT", expires, sig)
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_put_bytes:
            raise ApiError(413, "too_large", f"the limit is {max_put_bytes} bytes")
        put_result = await store.put_stream(key, _limited(request, max_put_bytes))
        return Response({"key": key, "size_bytes": put_result.size_bytes}, status_code=200)

    return Router(path="/objects", route_handlers=[download, upload], include_in_schema=False)


async def _limited(request: Request, limit: int):
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise ApiError(413, "too_large", f"the limit is {limit} bytes")
        yield chunk
