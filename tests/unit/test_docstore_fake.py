"""The in-memory document store passes the same contract as the MongoDB adapter."""

from __future__ import annotations

import pytest

from infra.docstore import DocStore
from infra.docstore_fake import FakeDocStore
from tests.contract_docstore import DocStoreContract


@pytest.fixture
def store() -> FakeDocStore:
    return FakeDocStore()


class TestFakeDocStore(DocStoreContract):
    def test_fake_satisfies_the_port(self, store):
        assert isinstance(store, DocStore)
