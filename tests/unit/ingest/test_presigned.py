"""Presigned uploads are single use and swept after expiry (issue 12, item 7), on fakes and a
fake clock."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from infra.docstore_uploads import FakeUploadRepo
from infra.objectstore_fake import FakeObjectStore
from infra.web import ApiError
from services.ingest.uploads import PresignedUploads, UploadSweeper, upload_signer

TTL_S = 600


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env():
    clock, repo, objects = Clock(), FakeUploadRepo(), FakeObjectStore()
    uploads = PresignedUploads(
        repo,
        objects,
        upload_signer("s" * 40, public_url="http://gw.example"),
        ttl_s=TTL_S,
        clock=clock,
    )
    return uploads, repo, objects, clock


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def _chunks(data: bytes):
    yield data


async def _put(uploads: PresignedUploads, grant, data: bytes = b"RIFFdata", **override):
    q = {**_query(grant.upload_url), **override}
    return await uploads.receive(grant.upload_id, _chunks(data), expires=q["expires"], sig=q["sig"])


async def _refused(coro) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await coro
    return caught.value


async def test_the_url_points_at_the_public_upload_path_of_its_id(env):
    uploads, *_ = env
    grant = await uploads.issue(subject="op")
    assert urlsplit(grant.upload_url).path == f"/objects/incoming/{grant.upload_id}"


async def test_a_url_is_used_once(env):
    uploads, repo, objects, _ = env
    grant = await uploads.issue(subject="op")
    assert await _put(uploads, grant) == 8
    assert await objects.get_bytes(f"incoming/{grant.upload_id}") == b"RIFFdata"
    again = await _refused(_put(uploads, grant, b"RIFFother"))
    assert (again.status, again.code) == (409, "already_used")
    assert await objects.get_bytes(f"incoming/{grant.upload_id}") == b"RIFFdata"


async def test_a_completed_upload_refuses_further_puts_and_completes(env):
    uploads, repo, objects, _ = env
    grant = await uploads.issue(subject="op")
    await _put(uploads, grant)
    key = await uploads.start_complete(grant.upload_id, subject="op")
    await uploads.end_complete(grant.upload_id, to="completed", track_id="t1")
    assert not await objects.exists(key)
    put = await _refused(_put(uploads, grant))
    done = await _refused(uploads.start_complete(grant.upload_id, subject="op"))
    assert (put.status, done.status, done.code) == (409, 409, "already_completed")
    assert not await objects.exists(key)


async def test_only_the_subject_that_asked_may_complete(env):
    uploads, *_ = env
    grant = await uploads.issue(subject="op")
    await _put(uploads, grant)
    assert (await _refused(uploads.start_complete(grant.upload_id, subject="other"))).status == 404


async def test_an_expired_url_refuses_put_and_complete(env):
    uploads, repo, objects, clock = env
    unused, used = await uploads.issue(subject="op"), await uploads.issue(subject="op")
    await _put(uploads, used)
    clock.now += TTL_S + 1
    assert (await _refused(_put(uploads, unused))).status == 410
    assert (await _refused(uploads.start_complete(used.upload_id, subject="op"))).status == 410


async def test_a_tampered_or_moved_url_is_refused(env):
    uploads, *_ = env
    grant, other = await uploads.issue(subject="op"), await uploads.issue(subject="op")
    assert (await _refused(_put(uploads, grant, sig="0" * 64))).status == 403
    q = _query(grant.upload_url)
    wrong_id = uploads.receive(other.upload_id, _chunks(b"x"), expires=q["expires"], sig=q["sig"])
    assert (await _refused(wrong_id)).status == 403
    later = str(int(q["expires"]) + 3600)
    assert (await _refused(_put(uploads, grant, expires=later))).status == 403


async def test_a_put_that_breaks_off_can_be_tried_again(env):
    uploads, repo, objects, _ = env
    grant = await uploads.issue(subject="op")

    async def broken():
        yield b"RIFF"
        raise ConnectionResetError("client went away")

    q = _query(grant.upload_url)
    with pytest.raises(ConnectionResetError):
        await uploads.receive(grant.upload_id, broken(), expires=q["expires"], sig=q["sig"])
    assert (await repo.get(grant.upload_id)).state == "pending"
    assert not await objects.exists(f"incoming/{grant.upload_id}")
    assert await _put(uploads, grant) == 8


async def test_the_sweeper_removes_abandoned_uploads_after_their_expiry(env):
    uploads, repo, objects, clock = env
    sweeper = UploadSweeper(repo, objects, clock=clock)
    abandoned, never_put = await uploads.issue(subject="op"), await uploads.issue(subject="op")
    await _put(uploads, abandoned)
    clock.now += TTL_S / 2
    fresh = await uploads.issue(subject="op")
    await _put(uploads, fresh)
    assert await sweeper.sweep() == 0  # nothing has expired yet
    clock.now += TTL_S / 2 + 1
    assert await sweeper.sweep() == 2
    assert not await objects.exists(f"incoming/{abandoned.upload_id}")
    assert (await repo.get(abandoned.upload_id)).state == "expired"
    assert (await repo.get(never_put.upload_id)).state == "expired"
    assert await objects.exists(f"incoming/{fresh.upload_id}")  # still within its lifetime
    assert await sweeper.sweep() == 0
    assert (await _refused(_put(uploads, never_put))).status == 410


async def test_the_sweeper_leaves_a_complete_in_progress_alone_for_a_grace_time(env):
    uploads, repo, objects, clock = env
    sweeper = UploadSweeper(repo, objects, clock=clock)
    grant = await uploads.issue(subject="op")
    await _put(uploads, grant)
    await uploads.start_complete(grant.upload_id, subject="op")
    clock.now += TTL_S + 1
    assert await sweeper.sweep() == 0
    assert await objects.exists(f"incoming/{grant.upload_id}")
    clock.now += 3600  # the process that was completing it died long ago
    assert await sweeper.sweep() == 1
    assert not await objects.exists(f"incoming/{grant.upload_id}")


async def test_a_put_overtaken_by_the_sweeper_leaves_no_object(env):
    uploads, repo, objects, clock = env
    sweeper = UploadSweeper(repo, objects, clock=clock)
    grant = await uploads.issue(subject="op")
    q = _query(grant.upload_url)

    async def slow():
        yield b"RIFF"
        clock.now += TTL_S + 1  # the URL expires while the body streams
        await sweeper.sweep()
        yield b"more"

    refused = await _refused(
        uploads.receive(grant.upload_id, slow(), expires=q["expires"], sig=q["sig"])
    )
    assert refused.status == 410
    assert not await objects.exists(f"incoming/{grant.upload_id}")
