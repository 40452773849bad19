"""Object store over S3 / MinIO with the ``minio`` SDK.

The SDK is synchronous, so every call runs in a worker thread and the event loop never blocks.
The threads are the adapter's own pool, not the default one used by ``asyncio.to_thread``: a
streamed upload's SDK thread waits for the source, and a source that itself reads in a default
thread (a file) must never starve waiting for a thread the uploads hold. A streamed upload
bridges the async source into the SDK's blocking ``read()`` one chunk at a time, so at most one
part (``part_size``) is held in memory.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from infra.errors import NotFound, SizeMismatch, StoreUnavailable
from infra.objectstore import (
    DEFAULT_CHUNK_BYTES,
    BaseObjectStore,
    ByteSource,
    ObjectInfo,
    ObjectStream,
    PutResult,
    aiter_chunks,
    check_expiry,
    validate_key,
    validate_prefix,
)

T = TypeVar("T")
MIN_PART_BYTES = 5 * 1024 * 1024
_MISSING = {"NoSuchKey", "NoSuchObject", "ResourceNotFound", "NotFound"}


class _StreamReader:
    """A blocking ``read(n)`` for the SDK's thread, fed from an async iterator on ``loop``."""

    def __init__(
        self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, length: int | None
    ) -> None:
        self._chunks, self._loop, self._length = chunks, loop, length
        self._buffer = bytearray()
        self._done = False
        self.digest = hashlib.sha256()
        self.size = 0

    async def _next(self) -> bytes | None:
        return await anext(self._chunks, None)

    def _pull(self) -> bytes | None:
        future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
        chunk = future.result()
        if chunk is None:
            self._done = True
            return None
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buffer) < n):
            chunk = self._pull()
            if chunk is not None:
                self._buffer += chunk
        if (
            self._length is not None
            and self.size >= self._length
            and not self._done
            and (self.size > self._length or self._pull() is not None)  # must end at length
        ):
            raise SizeMismatch(f"stream is longer than {self._length} bytes")
        count = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        out = bytes(self._buffer[:count])
        del self._buffer[:count]
        return out


class S3ObjectStore(BaseObjectStore):
    """One bucket on an S3-compatible server. Credentials stay inside the SDK client."""

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        endpoint: str,
        region: str | None = None,
        part_size: int = 8 * 1024 * 1024,
        max_threads: int = 16,
    ) -> None:
        if part_size < MIN_PART_BYTES:
            raise ValueError(f"part_size must be >= {MIN_PART_BYTES} bytes (S3 minimum)")
        self._client = client
        self.bucket = bucket
        self.endpoint = endpoint
        self.region = region
        self.part_size = part_size
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="s3-store")

    @classmethod
    def create(
        cls,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        part_size: int = 8 * 1024 * 1024,
    ) -> S3ObjectStore:
        """A store for ``bucket`` at ``endpoint`` (``host:port``). The region is fixed so
        presigning never needs a network round trip."""
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=60.0),
            maxsize=32,
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        return cls(client, bucket, endpoint=endpoint, region=region, part_size=part_size)

    @classmethod
    def from_settings(cls, settings: Any) -> S3ObjectStore:
        return cls.create(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def _call(self, fn: Callable[..., T], *args: Any, key: str = "", **kwargs: Any) -> T:
        try:
            return await self._run(fn, *args, **kwargs)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise NotFound(f"object {key!r} does not exist") from None
            raise
        except urllib3.exceptions.HTTPError as exc:
            raise StoreUnavailable(
                f"S3 endpoint {self.endpoint} did not answer: {type(exc).__name__}"
            ) from None

    async def ensure_ready(self) -> None:
        if await self._call(self._client.bucket_exists, self.bucket):
            return
        try:
            await self._call(self._client.make_bucket, self.bucket, location=self.region)
        except S3Error as exc:  # another process created it first
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def put_stream(
        self,
        key: str,
        stream: ByteSource,
        *,
        length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> PutResult:
        validate_key(key)
        reader = _StreamReader(aiter_chunks(stream), asyncio.get_running_loop(), length)
        try:
            await self._call(
                self._client.put_object,
                self.bucket,
                key,
                reader,
                -1 if length is None else length,
                content_type=content_type,
                part_size=self.part_size,
                num_parallel_uploads=1,
                key=key,
            )
        except OSError as exc:  # the SDK's "stream having not enough data"
            if length is not None and reader.size != length:
                raise SizeMismatch(
                    f"stream for {key!r} has {reader.size} bytes, expected {length}"
                ) from None
            raise exc
        return PutResult(key=key, size_bytes=reader.size, sha256=reader.digest.hexdigest())

    async def open_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_BYTES) -> ObjectStream:
        validate_key(key)
        response = await self._call(self._client.get_object, self.bucket, key, key=key)
        headers = response.headers
        info = ObjectInfo(
            key=key,
            size_bytes=int(headers.get("Content-Length", 0)),
            content_type=headers.get("Content-Type", "application/octet-stream"),
            etag=(headers.get("ETag") or "").strip('"') or None,
            last_modified=_http_date(headers.get("Last-Modified")),
        )

        async def chunks() -> AsyncGenerator[bytes, None]:
            while chunk := await self._run(response.read, chunk_size):
                yield chunk

        def release() -> None:
            response.close()
            response.release_conn()

        return ObjectStream(info, chunks(), release=lambda: self._run(release))

    async def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        st = await self._call(self._client.stat_object, self.bucket, key, key=key)
        return ObjectInfo(
            key=key,
            size_bytes=int(st.size or 0),
            content_type=st.content_type or "application/octet-stream",
            etag=st.etag,
            last_modified=st.last_modified,
        )

    async def delete(self, key: str) -> None:
        validate_key(key)
        await self._call(self._client.remove_object, self.bucket, key, key=key)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        return await self._call(self._delete_prefix, prefix)

    def _delete_prefix(self, prefix: str) -> int:
        names = [
            o.object_name
            for o in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
        ]
        errors = list(
            self._client.remove_objects(self.bucket, (DeleteObject(name) for name in names))
        )
        if errors:
            raise RuntimeError(
                f"could not delete {len(errors)} objects under {prefix!r}: {errors[0].message}"
            )
        return len(names)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def presigned_get_url(self, key: str, *, expires_s: int = 3600) -> str:
        validate_key(key)
        expires = timedelta(seconds=check_expiry(expires_s))
        return await self._call(
            self._client.presigned_get_object, self.bucket, key, expires=expires, key=key
        )

    async def presigned_put_url(self, key: str, *, expires_s: int = 3600) -> str:
        validate_key(key)
        expires = timedelta(seconds=check_expiry(expires_s))
        return await self._call(
            self._client.presigned_put_object, self.bucket, key, expires=expires, key=key
        )


def _http_date(value: str | None):
    return parsedate_to_datetime(value) if value else None
