"""Presigned uploads as documents, so an upload URL is used once and an abandoned one is swept.

One document per upload id: ``pending`` (URL issued) → ``receiving`` (a PUT is streaming) →
``received`` → ``completing`` → ``completed`` | ``failed``; any unfinished one becomes
``expired`` once its URL's lifetime is over. Every move is one guarded ``find_one_and_update``
naming the allowed current state, so two PUTs (or two completes) of one id cannot both win.
Times are plain Unix seconds passed in by the caller (queried by range: the nx-27017 notes of
``infra.docstore`` apply), which also lets tests drive a fake clock. ``FakeUploadRepo`` is the
in-memory twin with the same behaviour.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from infra.errors import Conflict

UploadState = Literal[
    "pending", "receiving", "received", "completing", "completed", "failed", "expired"
]
UPLOAD_STATES: tuple[str, ...] = get_args(UploadState)
UNFINISHED: tuple[str, ...] = ("pending", "receiving", "received", "completing")
UPLOADS = "uploads"


@dataclass(frozen=True, slots=True)
class UploadRecord:
    upload_id: str
    state: UploadState
    subject: str
    """The token subject that asked for the URL; only it may complete the upload."""
    created_s: float
    expires_s: float
    updated_s: float
    track_id: str | None = None


class UploadRepo(Protocol):
    async def ensure_indexes(self) -> None: ...
    async def create(
        self, upload_id: str, *, subject: str, now_s: float, expires_s: float
    ) -> UploadRecord: ...
    async def get(self, upload_id: str) -> UploadRecord | None: ...
    async def claim(
        self, upload_id: str, *, from_state: UploadState, to: UploadState, now_s: float
    ) -> UploadRecord | None:
        """Move ``from_state`` → ``to`` only while the upload has not expired at ``now_s``."""

    async def move(
        self,
        upload_id: str,
        *,
        from_state: UploadState,
        to: UploadState,
        now_s: float,
        track_id: str | None = None,
    ) -> bool:
        """Move ``from_state`` → ``to`` whatever the time (finishing or undoing a claim)."""

    async def expired(
        self, *, now_s: float, states: Sequence[str] = UNFINISHED, limit: int = 500
    ) -> list[UploadRecord]:
        """Unfinished uploads in ``states`` whose URL expired at or before ``now_s``."""


def _check(*states: str) -> None:
    unknown = [s for s in states if s not in UPLOAD_STATES]
    if unknown:
        raise ValueError(f"unknown upload states {unknown}")


def new_upload_doc(upload_id: str, subject: str, now_s: float, expires_s: float) -> dict:
    return {
        "_id": upload_id,
        "state": "pending",
        "subject": subject,
        "created_s": now_s,
        "expires_s": expires_s,
        "updated_s": now_s,
        "track_id": None,
    }


def upload_from_doc(doc: dict[str, Any]) -> UploadRecord:
    return UploadRecord(
        upload_id=doc["_id"],
        state=doc["state"],
        subject=doc["subject"],
        created_s=float(doc["created_s"]),
        expires_s=float(doc["expires_s"]),
        updated_s=float(doc["updated_s"]),
        track_id=doc.get("track_id"),
    )


def _sets(to: str, now_s: float, track_id: str | None) -> dict[str, Any]:
    sets: dict[str, Any] = {"state": to, "updated_s": now_s}
    if track_id is not None:
        sets["track_id"] = track_id
    return sets


class MongoUploadRepo:
    def __init__(self, docstore: Any) -> None:
        """Over the database of a ``MongoDocStore`` (sharing its client)."""
        self._uploads = docstore._client[docstore.database][UPLOADS]

    async def ensure_indexes(self) -> None:
        await self._uploads.create_index([("state", ASCENDING), ("expires_s", ASCENDING)])

    async def create(
        self, upload_id: str, *, subject: str, now_s: float, expires_s: float
    ) -> UploadRecord:
        doc = new_upload_doc(upload_id, subject, now_s, expires_s)
        try:
            await self._uploads.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict(f"upload {upload_id} exists") from None
        return upload_from_doc(doc)

    async def get(self, upload_id: str) -> UploadRecord | None:
        doc = await self._uploads.find_one({"_id": upload_id})
        return upload_from_doc(doc) if doc else None

    async def claim(
        self, upload_id: str, *, from_state: UploadState, to: UploadState, now_s: float
    ) -> UploadRecord | None:
        _check(from_state, to)
        doc = await self._uploads.find_one_and_update(
            {"_id": upload_id, "state": from_state, "expires_s": {"$gt": now_s}},
            {"$set": _sets(to, now_s, None)},
            return_document=ReturnDocument.AFTER,
        )
        return upload_from_doc(doc) if doc else None

    async def move(
        self,
        upload_id: str,
        *,
        from_state: UploadState,
        to: UploadState,
        now_s: float,
        track_id: str | None = None,
    ) -> bool:
        _check(from_state, to)
        result = await self._uploads.update_one(
            {"_id": upload_id, "state": from_state}, {"$set": _sets(to, now_s, track_id)}
        )
        return result.modified_count == 1

    async def expired(
        self, *, now_s: float, states: Sequence[str] = UNFINISHED, limit: int = 500
    ) -> list[UploadRecord]:
        _check(*states)
        cursor = self._uploads.find(
            {"state": {"$in": list(states)}, "expires_s": {"$lte": now_s}}
        ).limit(limit)
        return [upload_from_doc(d) async for d in cursor]


class FakeUploadRepo:
    """In memory, same rules (unit tests)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def create(
        self, upload_id: str, *, subject: str, now_s: float, expires_s: float
    ) -> UploadRecord:
        if upload_id in self.docs:
            raise Conflict(f"upload {upload_id} exists")
        self.docs[upload_id] = new_upload_doc(upload_id, subject, now_s, expires_s)
        return upload_from_doc(copy.deepcopy(self.docs[upload_id]))

    async def get(self, upload_id: str) -> UploadRecord | None:
        doc = self.docs.get(upload_id)
        return upload_from_doc(copy.deepcopy(doc)) if doc else None

    async def claim(
        self, upload_id: str, *, from_state: UploadState, to: UploadState, now_s: float
    ) -> UploadRecord | None:
        _check(from_state, to)
        doc = self.docs.get(upload_id)
        if doc is None or doc["state"] != from_state or doc["expires_s"] <= now_s:
            return None
        doc.update(_sets(to, now_s, None))
        return upload_from_doc(copy.deepcopy(doc))

    async def move(
        self,
        upload_id: str,
        *,
        from_state: UploadState,
        to: UploadState,
        now_s: float,
        track_id: str | None = None,
    ) -> bool:
        _check(from_state, to)
        doc = self.docs.get(upload_id)
        if doc is None or doc["state"] != from_state:
            return False
        doc.update(_sets(to, now_s, track_id))
        return True

    async def expired(
        self, *, now_s: float, states: Sequence[str] = UNFINISHED, limit: int = 500
    ) -> list[UploadRecord]:
        _check(*states)
        found = [d for d in self.docs.values() if d["state"] in states and d["expires_s"] <= now_s]
        return [upload_from_doc(copy.deepcopy(d)) for d in found[:limit]]
