"""Object store port: audio, analysis artefacts, maps, pictures and bundles as keyed objects.

Adapters: ``objectstore_local`` (a folder, the embedded default), ``objectstore_s3`` (MinIO/S3
via the ``minio`` SDK) and ``objectstore_fake`` (memory). Every adapter checks keys with
:func:`validate_key`, so a key built from outside input cannot escape its bucket or folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from infra.errors import InvalidKey, NotFound

MAX_KEY_BYTES = 512
"""Longest key in UTF-8 bytes (S3 allows 1024; the contracts' ``ObjectKey`` allows 512)."""
DEFAULT_CHUNK_BYTES = 1024 * 1024
MAX_URL_EXPIRY_S = 7 * 24 * 3600
"""Longest presigned-URL lifetime (the S3 SigV4 limit)."""
DEFAULT_OBJECT_URL_BASE = "http://127.0.0.1:8000/api/v1/objects"
"""Where the gateway serves signed local-store URLs unless told otherwise."""

ByteSource = bytes | bytearray | memoryview | AsyncIterable[bytes] | Iterable[bytes] | BinaryIO


def validate_key(key: str) -> str:
    """``key`` unchanged if it is a safe relative object key, else :class:`InvalidKey`.

    Rejected: non-strings, empty keys, keys over ``MAX_KEY_BYTES`` UTF-8 bytes, absolute paths,
    backslashes, NUL and other control characters, empty segments (``a//b``, a trailing ``/``)
    and ``.`` / ``..`` segments.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key must be a non-empty string")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key is longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise InvalidKey(f"object key must be relative: {key[:80]!r}")
    if "\\" in key:
        raise InvalidKey(f"object key must not contain a backslash: {key[:80]!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise InvalidKey("object key must not contain NUL or control characters")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"object key has an empty, '.' or '..' segment: {key[:80]!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A key prefix for :meth:`ObjectStore.delete_prefix`: a valid key, optionally ending in
    ``/``. The empty prefix (everything) is refused."""
    if isinstance(prefix, str) and prefix.endswith("/"):
        validate_key(prefix[:-1])
    else:
        validate_key(prefix)
    return prefix


def check_expiry(expires_s: int) -> int:
    if not 1 <= int(expires_s) <= MAX_URL_EXPIRY_S:
        raise ValueError(f"expires_s must be within 1..{MAX_URL_EXPIRY_S}, got {expires_s}")
    return int(expires_s)


@dataclass(frozen=True, slots=True)
class PutResult:
    key: str
    size_bytes: int
    sha256: str
    """Lowercase hex SHA-256 of the stored bytes, computed while streaming."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size_bytes: int
    content_type: str
    etag: str | None
    last_modified: datetime | None


class ObjectStream:
    """An opened object: ``info`` plus its bytes as an async iterator of chunks.

    Use ``async with store.open_stream(key) as s: async for chunk in s: ...`` or
    ``aclose()`` it, so the underlying file or connection is released.
    """

    def __init__(
        self,
        info: ObjectInfo,
        chunks: AsyncGenerator[bytes, None],
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.info = info
        self._chunks = chunks
        self._release = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def read_all(self) -> bytes:
        return b"".join([chunk async for chunk in self._chunks])

    async def aclose(self) -> None:
        """Stop reading and release the file or connection (safe to call twice)."""
        await self._chunks.aclose()
        if self._release is not None:
            release, self._release = self._release, None
            await release()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@runtime_checkable
class ObjectStore(Protocol):
    async def ensure_ready(self) -> None:
        """Create the bucket or folder if missing (call once at start-up)."""

    async def put_stream(
        self,
        key: str,
        stream: ByteSource,
        *,
        length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> PutResult:
        """Store ``stream`` under ``key`` without holding it all in memory; replaces any object
        there. With ``length``, a stream of another size raises ``SizeMismatch`` and stores
        nothing."""

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> PutResult: ...
    async def get_bytes(self, key: str) -> bytes: ...
    async def open_stream(
        self, key: str, *, chunk_size: int = DEFAULT_CHUNK_BYTES
    ) -> ObjectStream: ...
    def iter_chunks(
        self, key: str, *, chunk_size: int = DEFAULT_CHUNK_BYTES
    ) -> AsyncIterator[bytes]: ...
    async def stat(self, key: str) -> ObjectInfo: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing object is not an error."""

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; returns how many."""

    async def presigned_get_url(self, key: str, *, expires_s: int = 3600) -> str: ...
    async def presigned_put_url(self, key: str, *, expires_s: int = 3600) -> str: ...
    async def close(self) -> None: ...


async def aiter_chunks(
    source: ByteSource, chunk_size: int = DEFAULT_CHUNK_BYTES
) -> AsyncIterator[bytes]:
    """Any byte source as an async iterator of non-empty chunks (files read in a thread)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]
    elif hasattr(source, "read"):
        while chunk := await asyncio.to_thread(source.read, chunk_size):
            yield chunk
    elif isinstance(source, AsyncIterable):
        async for chunk in source:
            if chunk:
                yield bytes(chunk)
    else:
        for chunk in source:
            if chunk:
                yield bytes(chunk)


async def chunks_of(stream: ObjectStream) -> AsyncIterator[bytes]:
    """Iterate an opened object and always release it."""
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


class BaseObjectStore(ABC):
    """Operations every adapter gets from its primitives (``put_stream``, ``open_stream``,
    ``stat``); adapters override them where the backend does better."""

    @abstractmethod
    async def put_stream(
        self,
        key: str,
        stream: ByteSource,
        *,
        length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> PutResult:
        """See ``ObjectStore.put_stream``."""

    @abstractmethod
    async def open_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_BYTES) -> ObjectStream:
        """The object under ``key``, opened for reading; NotFound if there is none."""

    @abstractmethod
    async def stat(self, key: str) -> ObjectInfo:
        """Size, content type, etag and modification time of ``key``; NotFound if missing."""

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> PutResult:
        return await self.put_stream(key, data, length=len(data), content_type=content_type)

    async def get_bytes(self, key: str) -> bytes:
        stream = await self.open_stream(key)
        try:
            return await stream.read_all()
        finally:
            await stream.aclose()

    async def iter_chunks(
        self, key: str, *, chunk_size: int = DEFAULT_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        stream = await self.open_stream(key, chunk_size=chunk_size)
        async for chunk in chunks_of(stream):
            yield chunk

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
            return True
        except NotFound:
            return False

    async def close(self) -> None:
        return None


def derive_url_secret(secret: str | bytes, *, label: bytes = b"k1-object-urls-v1") -> bytes:
    """A key for signed URLs derived from a broader secret, so that secret is not reused as
    is; each ``label`` (object links, upload links) gets a key of its own."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, label, hashlib.sha256).digest()


def build_object_store(
    settings: Any, *, url_base: str = DEFAULT_OBJECT_URL_BASE, url_secret: str | bytes | None = None
) -> ObjectStore:
    """S3 (minio SDK) when ``settings.s3_endpoint`` is set, else a folder under
    ``settings.data_dir / "objects"`` whose presigned URLs are HMAC-signed links to
    ``url_base`` (served by the gateway), keyed by ``url_secret`` or a key derived from
    ``settings.jwt_secret``. No I/O here: call ``ensure_ready()`` at start-up."""
    if settings.s3_endpoint:
        from infra.objectstore_s3 import S3ObjectStore

        return S3ObjectStore.from_settings(settings)
    from infra.objectstore_local import LocalObjectStore, UrlSigner

    root_secret = settings.jwt_secret.get_secret_value()
    if not (url_secret or root_secret):  # never a key derived from a public constant
        raise RuntimeError(
            "K1_JWT_SECRET is not set: the local object store derives the key "
            "that signs its URLs from it"
        )
    secret = url_secret or derive_url_secret(root_secret)
    return LocalObjectStore(
        Path(settings.data_dir) / "objects", signer=UrlSigner(secret, base_url=url_base)
    )
