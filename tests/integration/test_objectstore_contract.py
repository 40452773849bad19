"""One object store contract, run against the local folder, S3 (minio SDK -> moto over HTTP)
and the in-memory fake."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets

import httpx
import pytest

from infra.errors import InvalidKey, InvalidSignature, NotFound, SignatureExpired, SizeMismatch
from infra.objectstore import ObjectStore, build_object_store
from infra.objectstore_fake import FakeObjectStore
from infra.objectstore_local import LocalObjectStore, UrlSigner
from infra.objectstore_s3 import S3ObjectStore
from infra.settings import Settings

pytestmark = pytest.mark.integration

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../secret",
    "a/../../b",
    "a/./b",
    "a//b",
    "a/b/",
    "a\\b",
    "a\x00b",
    "a\nb",
    "x" * 513,
    "é" * 300,
]
MB = 1024 * 1024


@pytest.fixture(params=["local", "s3", "fake"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def store(kind, tmp_path, request) -> ObjectStore:
    if kind == "s3":
        return request.getfixturevalue("s3_object_store")
    if kind == "local":
        signer = UrlSigner("test-secret", base_url="http://127.0.0.1:8000/api/v1/objects")
        return LocalObjectStore(tmp_path / "objects", signer=signer)
    return FakeObjectStore()


async def chunked(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[start : start + size]


async def test_multi_mb_stream_round_trips_with_its_sha256(store):
    data = os.urandom(11 * MB + 12345)  # > two 5 MiB parts on S3
    put = await store.put_stream("audio/song.wav", chunked(data), content_type="audio/wav")
    assert (put.size_bytes, put.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    info = await store.stat("audio/song.wav")
    assert info.size_bytes == len(data) and info.content_type in ("audio/wav", "audio/x-wav")
    async with await store.open_stream("audio/song.wav", chunk_size=MB) as stream:
        assert stream.info.size_bytes == len(data)
        got = [chunk async for chunk in stream]
    assert b"".join(got) == data and max(map(len, got)) <= MB
    assert b"".join([c async for c in store.iter_chunks("audio/song.wav")]) == data


async def test_known_length_stream_and_bytes(store):
    data = b'{"version": 4}'
    put = await store.put_stream(
        "maps/t1/v1.json", chunked(data, 3), length=len(data), content_type="application/json"
    )
    assert put.size_bytes == len(data)
    assert await store.get_bytes("maps/t1/v1.json") == data
    assert (await store.stat("maps/t1/v1.json")).content_type == "application/json"
    await store.put_bytes("maps/t1/v1.json", b"{}", content_type="application/json")
    assert await store.get_bytes("maps/t1/v1.json") == b"{}"


async def test_a_stream_of_the_wrong_length_stores_nothing(store):
    for data in (b"x" * 10, b"x" * 14):
        with pytest.raises(SizeMismatch):
            await store.put_stream("audio/short.bin", chunked(data, 4), length=12)
        assert not await store.exists("audio/short.bin")


async def test_missing_objects_are_not_found(store):
    assert not await store.exists("nope/x.bin")
    for call in (store.get_bytes, store.stat, store.open_stream):
        with pytest.raises(NotFound):
            await call("nope/x.bin")
    await store.delete("nope/x.bin")  # deleting what is gone is fine (retries)


async def test_delete_and_prefix_delete(store):
    for key in (
        "tracks/a/1.bin",
        "tracks/a/2.bin",
        "tracks/a/deep/3.bin",
        "tracks/ab/4.bin",
        "tracks/b/5.bin",
    ):
        await store.put_bytes(key, key.encode())
    await store.delete("tracks/b/5.bin")
    assert not await store.exists("tracks/b/5.bin")
    assert await store.delete_prefix("tracks/a/") == 3
    assert not await store.exists("tracks/a/deep/3.bin")
    assert await store.get_bytes("tracks/ab/4.bin") == b"tracks/ab/4.bin"
    assert await store.delete_prefix("tracks/a/") == 0


async def test_unsafe_keys_are_rejected_everywhere(store):
    for key in BAD_KEYS:
        for call in (
            store.get_bytes,
            store.stat,
            store.delete,
            store.exists,
            store.presigned_get_url,
            store.presigned_put_url,
        ):
            with pytest.raises(InvalidKey):
                await call(key)
        with pytest.raises(InvalidKey):
            await store.put_bytes(key, b"x")
        with pytest.raises(InvalidKey):
            await store.put_stream(key, chunked(b"x"))
    for prefix in ("", "/", "../", "a//"):
        with pytest.raises(InvalidKey):
            await store.delete_prefix(prefix)


async def test_presigned_urls_grant_get_and_put(store, kind):
    await store.put_bytes("maps/t1/v1.json", b'{"a": 1}', content_type="application/json")
    get_url = await store.presigned_get_url("maps/t1/v1.json", expires_s=60)
    put_url = await store.presigned_put_url("uploads/t2.bin", expires_s=60)
    if kind == "s3":
        async with httpx.AsyncClient(timeout=10) as http:
            got = await http.get(get_url)
            assert got.status_code == 200 and got.content == b'{"a": 1}'
            assert (await http.put(put_url, content=b"from a client")).status_code == 200
            assert "X-Amz-Expires=60" in get_url and "X-Amz-Signature=" in put_url
        assert await store.get_bytes("uploads/t2.bin") == b"from a client"
    else:  # served by the gateway later; the signer is what it checks
        signer = store.signer
        assert signer.verify_url(get_url, method="GET") == "maps/t1/v1.json"
        assert signer.verify_url(put_url, method="PUT") == "uploads/t2.bin"
        with pytest.raises(InvalidSignature):
            signer.verify_url(get_url, method="PUT")


async def test_presigned_url_expiry_is_bounded(store):
    for expires_s in (0, 8 * 24 * 3600):
        with pytest.raises(ValueError, match="expires_s"):
            await store.presigned_get_url("maps/t1/v1.json", expires_s=expires_s)


# ---------------------------------------------------------------- local store and its signer


def test_signed_urls_expire_and_resist_tampering():
    # moto does not enforce X-Amz-Expires, so expiry is proven on the local signer.
    signer = UrlSigner("s3cret", base_url="http://h/api/v1/objects")
    url = signer.sign("maps/t1/v1.json", method="GET", expires_s=30, now=1000.0)
    assert signer.verify_url(url, method="GET", now=1029.0) == "maps/t1/v1.json"
    with pytest.raises(SignatureExpired):
        signer.verify_url(url, method="GET", now=1030.0)
    for forged in (
        url.replace("expires=1030", "expires=9999"),
        url.replace("v1.json", "v2.json"),
        url[:-1] + ("0" if url[-1] != "0" else "1"),
        url.split("?")[0],
        url.replace("/objects/maps", "/objects/../maps"),
    ):
        with pytest.raises(InvalidSignature):
            signer.verify_url(forged, method="GET", now=1001.0)
    other = UrlSigner("other", base_url="http://h/api/v1/objects")
    with pytest.raises(InvalidSignature):
        other.verify_url(url, method="GET", now=1001.0)
    assert "s3cret" not in repr(signer)


async def test_local_store_writes_atomically_and_stays_in_its_root(tmp_path):
    store = LocalObjectStore(tmp_path / "root")
    await store.ensure_ready()
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidKey):
        await store.put_bytes("link/escape.bin", b"x")
    with pytest.raises(InvalidKey):
        await store.put_bytes(".tmp/x", b"x")
    assert list((tmp_path / "outside").iterdir()) == []

    async def failing():
        yield b"partial"
        raise ConnectionError("client went away")

    await store.put_bytes("a/b.bin", b"old")
    with pytest.raises(ConnectionError):
        await store.put_stream("a/b.bin", failing())
    assert await store.get_bytes("a/b.bin") == b"old"
    assert list((tmp_path / "root" / ".tmp").iterdir()) == []
    with pytest.raises(RuntimeError, match="UrlSigner"):
        await store.presigned_get_url("a/b.bin")


def test_factory_picks_the_adapter_from_settings(tmp_path):
    with pytest.raises(RuntimeError, match="K1_JWT_SECRET is not set"):  # no public key
        build_object_store(Settings(_env_file=None, s3_endpoint=None, data_dir=tmp_path))
    local = build_object_store(
        Settings(s3_endpoint=None, data_dir=tmp_path, jwt_secret=secrets.token_urlsafe(48))
    )
    assert isinstance(local, LocalObjectStore) and local.root == tmp_path / "objects"
    s3 = build_object_store(Settings(s3_endpoint="minio:9000", s3_secret_key="p4ss-w0rd"))
    assert isinstance(s3, S3ObjectStore) and s3.bucket == "k1"
    assert "p4ss-w0rd" not in repr(s3) and "minio:9000" in repr(s3)
    assert "dev-insecure" not in repr(local.signer)


def test_every_adapter_satisfies_the_port(store):
    assert isinstance(store, ObjectStore)


async def test_a_big_upload_does_not_stall_the_event_loop(store):
    """Other requests keep being served while a multi-MB object streams in and out."""
    gaps: list[float] = []
    running = True

    async def ticker():
        loop = asyncio.get_running_loop()
        last = loop.time()
        while running:
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    try:
        data = os.urandom(8 * MB)
        with io.BytesIO(data) as source:  # a file-like source, read in threads
            await store.put_stream("audio/big.bin", source, length=len(data))
        assert len(await store.get_bytes("audio/big.bin")) == len(data)
    finally:
        running = False
        await task
    assert gaps and max(gaps) < 0.5
