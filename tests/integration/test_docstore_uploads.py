"""The upload records behave the same over nx-27017 (MongoDB wire protocol) as the fake."""

from __future__ import annotations

import pytest

from infra.docstore_uploads import FakeUploadRepo, MongoUploadRepo
from infra.errors import Conflict

pytestmark = pytest.mark.integration


@pytest.fixture(params=["fake", "mongo"])
async def repo(request, mongo_docstore):
    if request.param == "fake":
        return FakeUploadRepo()
    repo = MongoUploadRepo(mongo_docstore)
    await repo.ensure_indexes()
    return repo


async def test_claims_are_single_and_respect_expiry(repo):
    await repo.create("u1", subject="op", now_s=100.0, expires_s=200.0)
    with pytest.raises(Conflict):
        await repo.create("u1", subject="op", now_s=100.0, expires_s=200.0)
    first = await repo.claim("u1", from_state="pending", to="receiving", now_s=150.0)
    assert first is not None and first.state == "receiving" and first.updated_s == 150.0
    assert await repo.claim("u1", from_state="pending", to="receiving", now_s=151.0) is None
    assert await repo.move("u1", from_state="receiving", to="received", now_s=152.0)
    assert await repo.claim("u1", from_state="received", to="completing", now_s=200.0) is None
    assert await repo.move("u1", from_state="received", to="completed", now_s=201.0, track_id="t9")
    done = await repo.get("u1")
    assert (done.state, done.track_id, done.subject, done.expires_s) == (
        "completed",
        "t9",
        "op",
        200.0,
    )
    assert not await repo.move("u1", from_state="received", to="expired", now_s=300.0)


async def test_expired_lists_unfinished_uploads_past_their_expiry(repo):
    await repo.create("a", subject="op", now_s=0.0, expires_s=10.0)
    await repo.create("b", subject="op", now_s=0.0, expires_s=20.0)
    await repo.create("c", subject="op", now_s=0.0, expires_s=5.0)
    await repo.move("c", from_state="pending", to="completed", now_s=1.0)
    assert [r.upload_id for r in await repo.expired(now_s=15.0)] == ["a"]
    assert sorted(r.upload_id for r in await repo.expired(now_s=20.0)) == ["a", "b"]
    assert await repo.expired(now_s=20.0, states=("completing",)) == []
