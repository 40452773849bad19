"""The PyMongo adapter over TCP against nx-27017 passes the document store contract."""

from __future__ import annotations

import pytest

from infra.docstore import DocStore, MongoDocStore
from tests.contract_docstore import DocStoreContract, new_track

pytestmark = pytest.mark.integration


@pytest.fixture
def store(mongo_docstore: MongoDocStore) -> MongoDocStore:
    return mongo_docstore


class TestMongoDocStore(DocStoreContract):
    def test_adapter_satisfies_the_port(self, store):
        assert isinstance(store, DocStore)

    async def test_indexes_exist_and_ensure_is_repeatable(self, store):
        await store.ensure_indexes()
        info = await store._client[store.database]["tracks"].index_information()
        unique = [i for i in info.values() if i.get("unique")]
        assert [k for i in unique for k, _ in i["key"]] == ["audio_sha256"]

    async def test_writes_are_visible_to_a_new_client(self, store, nx_url):
        await store.tracks.create_track(new_track("t1"))
        await store.tracks.transition("t1", version=1, to="analyzing")
        other = MongoDocStore.from_url(nx_url, store.database)
        try:
            track = await other.tracks.get_track("t1")
            assert track is not None and track.status == "analyzing"
        finally:
            await other.close()

    async def test_repr_never_shows_the_url(self, nx_url):
        url = nx_url.replace("mongodb://", "mongodb://k1:s3cret-pw@")
        store = MongoDocStore.from_url(url, "k1")
        try:
            assert "s3cret" not in repr(store) and "k1" in repr(store)
        finally:
            await store.close()

    async def test_ping_answers(self, store):
        await store.ping()

    async def test_tracks_stored_before_candidate_versions_existed_still_move_on(self, store):
        await store.tracks.create_track(new_track("t1"))
        await store.tracks.transition("t1", version=1, to="failed", error_reason="x")
        tracks = store._client[store.database]["tracks"]
        await tracks.update_one(
            {"_id": "t1"}, {"$unset": {"candidate_version": "", "latest_version": ""}}
        )
        opened = await store.tracks.open_candidate("t1", from_version=1)
        assert opened.applied and opened.track.candidate_version == 2
        await store.tracks.drop_candidate("t1", version=2)
        await tracks.update_one(
            {"_id": "t1"}, {"$unset": {"candidate_version": "", "latest_version": ""}}
        )
        again = await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        assert again.applied and again.track.analysis_version == 2
