"""Object store over a local folder (the embedded default) and HMAC-signed object URLs.

Writes go to a temp file under ``<root>/.tmp`` and are fsynced and ``os.replace``d into place,
so a reader sees the old object or the whole new one, never a part. File I/O runs in threads.
Content types are guessed from the key's extension (no metadata is kept beside the files).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import mimetypes
import os
import tempfile
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from infra.errors import (
    Conflict,
    InvalidKey,
    InvalidSignature,
    NotFound,
    SignatureExpired,
    SizeMismatch,
)
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

_TMP = ".tmp"


class UrlSigner:
    """Signs and verifies expiring object URLs ``<base_url>/<key>?expires=<unix s>&sig=<hex>``.

    The signature is HMAC-SHA256 over the method, key and expiry, so a URL signed for GET
    cannot be used to PUT, nor for another key, nor after it expires.
    """

    def __init__(self, secret: str | bytes, *, base_url: str) -> None:
        if not secret:
            raise ValueError("a URL signing secret is required")
        self._key = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"UrlSigner(base_url={self.base_url!r})"

    def _mac(self, method: str, key: str, expires: int) -> str:
        message = f"{method.upper()}\n{key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(
        self, key: str, *, method: str = "GET", expires_s: int, now: float | None = None
    ) -> str:
        validate_key(key)
        expires = int((time.time() if now is None else now) + check_expiry(expires_s))
        sig = self._mac(method, key, expires)
        return f"{self.base_url}/{quote(key, safe='/')}?expires={expires}&sig={sig}"

    def verify(
        self, key: str, *, method: str, expires: str | int, signature: str, now: float | None = None
    ) -> None:
        """Return if valid; raise :class:`InvalidSignature` or :class:`SignatureExpired`."""
        validate_key(key)
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            raise InvalidSignature("signed URL has no valid expiry") from None
        expected = self._mac(method, key, expires_at)
        if not isinstance(signature, str) or not hmac.compare_digest(expected, signature):
            raise InvalidSignature("signed URL does not match this object and method")
        if (time.time() if now is None else now) >= expires_at:
            raise SignatureExpired("signed URL has expired")

    def verify_url(self, url: str, *, method: str, now: float | None = None) -> str:
        """Verify a full signed URL and return the object key it grants."""
        parts = urlsplit(url)
        base_path = urlsplit(self.base_url).path.rstrip("/") + "/"
        if not parts.path.startswith(base_path):
            raise InvalidSignature("URL is not an object URL of this store")
        query = parse_qs(parts.query)
        key = unquote(parts.path[len(base_path) :])
        try:
            validate_key(key)
        except InvalidKey as exc:
            raise InvalidSignature(f"URL names an invalid key: {exc}") from None
        self.verify(
            key,
            method=method,
            expires=(query.get("expires") or [""])[0],
            signature=(query.get("sig") or [""])[0],
            now=now,
        )
        return key


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key, strict=False)[0] or "application/octet-stream"


class LocalObjectStore(BaseObjectStore):
    """Objects as files under ``root``; ``signer`` makes presigned URLs (served by the gateway)."""

    def __init__(self, root: Path | str, *, signer: UrlSigner | None = None) -> None:
        self.root = Path(root).absolute()
        self.signer = signer
        self._tmp = self.root / _TMP

    def __repr__(self) -> str:
        return f"LocalObjectStore(root={str(self.root)!r})"

    async def ensure_ready(self) -> None:
        await asyncio.to_thread(self._tmp.mkdir, parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] == _TMP:
            raise InvalidKey(f"object keys under {_TMP}/ are reserved")
        path = self.root / key
        real_root = os.path.realpath(self.root)
        if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
            raise InvalidKey(f"object key leaves the store: {key[:80]!r}")
        return path

    async def put_stream(
        self,
        key: str,
        stream: ByteSource,
        *,
        length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> PutResult:
        path = self._path(key)
        await self.ensure_ready()
        fd, tmp_name = await asyncio.to_thread(tempfile.mkstemp, dir=self._tmp, prefix="put-")
        file = os.fdopen(fd, "wb")
        digest, size = hashlib.sha256(), 0
        try:
            async for chunk in aiter_chunks(stream):
                size += len(chunk)
                if length is not None and size > length:
                    raise SizeMismatch(f"stream for {key!r} is longer than {length} bytes")
                digest.update(chunk)
                await asyncio.to_thread(file.write, chunk)
            if length is not None and size != length:
                raise SizeMismatch(f"stream for {key!r} has {size} bytes, expected {length}")
            await asyncio.to_thread(_commit, file, tmp_name, path, key)
        except BaseException:
            await asyncio.to_thread(_discard, file, tmp_name)
            raise
        return PutResult(key=key, size_bytes=size, sha256=digest.hexdigest())

    async def open_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_BYTES) -> ObjectStream:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(open, path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"object {key!r} does not exist") from None
        info = _info(key, os.fstat(file.fileno()))
        return ObjectStream(
            info, _read_file(file, chunk_size), release=lambda: asyncio.to_thread(file.close)
        )

    async def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = await asyncio.to_thread(os.stat, path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"object {key!r} does not exist") from None
        if not os.path.isfile(path):
            raise NotFound(f"object {key!r} does not exist")
        return _info(key, st)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            await asyncio.to_thread(os.unlink, path)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        if prefix.split("/", 1)[0] == _TMP:
            raise InvalidKey(f"object keys under {_TMP}/ are reserved")
        return await asyncio.to_thread(self._delete_prefix, prefix)

    def _delete_prefix(self, prefix: str) -> int:
        start = self.root / prefix.rpartition("/")[0]
        count = 0
        for dirpath, dirnames, filenames in os.walk(start):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d != _TMP]
            for name in filenames:
                full = os.path.join(dirpath, name)
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    try:
                        os.unlink(full)
                        count += 1
                    except FileNotFoundError:
                        pass
        return count

    async def presigned_get_url(self, key: str, *, expires_s: int = 3600) -> str:
        return self._signer().sign(self._key_for_url(key), method="GET", expires_s=expires_s)

    async def presigned_put_url(self, key: str, *, expires_s: int = 3600) -> str:
        return self._signer().sign(self._key_for_url(key), method="PUT", expires_s=expires_s)

    def _key_for_url(self, key: str) -> str:
        self._path(key)
        return key

    def _signer(self) -> UrlSigner:
        if self.signer is None:
            raise RuntimeError("LocalObjectStore has no UrlSigner: presigned URLs unavailable")
        return self.signer


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size_bytes=st.st_size,
        content_type=_content_type(key),
        etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


def _commit(file: BinaryIO, tmp_name: str, path: Path, key: str) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, path)
    except (NotADirectoryError, IsADirectoryError, FileExistsError):
        raise Conflict(f"object {key!r} clashes with another key's folder or file") from None


def _discard(file: BinaryIO, tmp_name: str) -> None:
    file.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_name)


async def _read_file(file: BinaryIO, chunk_size: int) -> AsyncGenerator[bytes, None]:
    while chunk := await asyncio.to_thread(file.read, chunk_size):
        yield chunk
