"""The in-memory device store passes the same contract as the MongoDB adapter."""

from __future__ import annotations

import pytest

from infra.docstore_devices import DeviceDocs
from infra.docstore_devices_fake import FakeDeviceDocStore
from tests.contract_docstore_devices import DeviceDocsContract


@pytest.fixture
def docs() -> FakeDeviceDocStore:
    return FakeDeviceDocStore()


class TestFakeDeviceDocs(DeviceDocsContract):
    def test_fake_satisfies_the_port(self, docs):
        assert isinstance(docs, DeviceDocs)
