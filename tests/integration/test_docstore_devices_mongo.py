"""The device documents over PyMongo against nx-27017 pass the device store contract."""

from __future__ import annotations

import pytest

from infra.docstore_devices import DeviceDocs, DeviceDocStore
from tests.contract_docstore_devices import DeviceDocsContract, new_device

pytestmark = pytest.mark.integration


@pytest.fixture
async def docs(mongo_docstore) -> DeviceDocStore:
    store = DeviceDocStore(mongo_docstore)
    await store.ensure_indexes()
    return store


class TestMongoDeviceDocs(DeviceDocsContract):
    def test_adapter_satisfies_the_port(self, docs):
        assert isinstance(docs, DeviceDocs)

    async def test_shares_the_client_and_sees_writes_from_another(
        self, docs, mongo_docstore, nx_url
    ):
        from infra.docstore import MongoDocStore

        assert docs._client is mongo_docstore._client
        await docs.devices.create(new_device("d1"))
        other = MongoDocStore.from_url(nx_url, mongo_docstore.database)
        try:
            assert (await DeviceDocStore(other).devices.get("d1")).name == "bar d1"
        finally:
            await other.close()
