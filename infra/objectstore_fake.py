"""In-memory object store with the behaviour of the real adapters (for unit tests)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime

from infra.errors import NotFound, SizeMismatch
from infra.objectstore import (
    DEFAULT_CHUNK_BYTES,
    BaseObjectStore,
    ByteSource,
    ObjectInfo,
    ObjectStream,
    PutResult,
    aiter_chunks,
    validate_key,
    validate_prefix,
)
from infra.objectstore_local import UrlSigner


@dataclass(frozen=True, slots=True)
class _Stored:
    data: bytes
    content_type: str
    modified: datetime


class FakeObjectStore(BaseObjectStore):
    """Objects in a dict; presigned URLs are signed like the local store's."""

    def __init__(self, *, signer: UrlSigner | None = None) -> None:
        self.objects: dict[str, _Stored] = {}
        self.signer = signer or UrlSigner(
            b"fake-object-store", base_url="http://objects.invalid/objects"
        )

    async def ensure_ready(self) -> None:
        return None

    async def put_stream(
        self,
        key: str,
        stream: ByteSource,
        *,
        length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> PutResult:
        validate_key(key)
        data = b"".join([chunk async for chunk in aiter_chunks(stream)])
        if length is not None and len(data) != length:
            raise SizeMismatch(f"stream for {key!r} has {len(data)} bytes, expected {length}")
        self.objects[key] = _Stored(data, content_type, datetime.now(UTC))
        return PutResult(key=key, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    def _get(self, key: str) -> _Stored:
        validate_key(key)
        try:
            return self.objects[key]
        except KeyError:
            raise NotFound(f"object {key!r} does not exist") from None

    async def open_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_BYTES) -> ObjectStream:
        stored = self._get(key)

        async def chunks() -> AsyncGenerator[bytes, None]:
            for start in range(0, len(stored.data), chunk_size):
                yield stored.data[start : start + chunk_size]

        return ObjectStream(self._info(key, stored), chunks())

    async def stat(self, key: str) -> ObjectInfo:
        return self._info(key, self._get(key))

    @staticmethod
    def _info(key: str, stored: _Stored) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size_bytes=len(stored.data),
            content_type=stored.content_type,
            etag=hashlib.md5(stored.data).hexdigest(),
            last_modified=stored.modified,
        )

    async def delete(self, key: str) -> None:
        validate_key(key)
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        doomed = [key for key in self.objects if key.startswith(prefix)]
        for key in doomed:
            del self.objects[key]
        return len(doomed)

    async def presigned_get_url(self, key: str, *, expires_s: int = 3600) -> str:
        return self.signer.sign(key, method="GET", expires_s=expires_s)

    async def presigned_put_url(self, key: str, *, expires_s: int = 3600) -> str:
        return self.signer.sign(key, method="PUT", expires_s=expires_s)
