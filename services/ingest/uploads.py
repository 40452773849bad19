"""Presigned uploads: a URL to PUT one file to, used once, and swept when abandoned.

The URL points at ``<public url>/objects/incoming/<upload id>`` (the gateway forwards it here,
whatever the object store), signed per id, method and expiry. Each upload id has a record
(``infra.docstore_uploads``): a PUT claims ``pending``, so a second PUT, a PUT after
``complete`` or after expiry is refused; the sweeper expires unfinished records after their
URL's lifetime and deletes their ``incoming/`` objects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.base import new_id
from contracts.lifecycle import upload_key
from infra.docstore_uploads import UploadRecord, UploadRepo, UploadState
from infra.errors import InvalidKey, InvalidSignature, SignatureExpired
from infra.objectstore import ObjectStore, derive_url_secret
from infra.objectstore_local import UrlSigner
from infra.web import ApiError

log = logging.getLogger(__name__)
COMPLETING_GRACE_S = 600.0
"""A ``completing`` record older than its expiry by this much belongs to a crashed process."""


def upload_signer(secret: str, *, public_url: str) -> UrlSigner:
    """Signs upload URLs with a key of their own, derived from ``secret``."""
    key = derive_url_secret(secret, label=b"k1-upload-urls-v1")
    return UrlSigner(key, base_url=public_url.rstrip("/") + "/objects")


@dataclass(frozen=True, slots=True)
class Grant:
    upload_id: str
    upload_url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PresignedUploads:
    repo: UploadRepo
    objects: ObjectStore
    signer: UrlSigner
    ttl_s: int = 3600
    clock: Callable[[], float] = time.time

    async def issue(self, *, subject: str) -> Grant:
        upload_id, now = new_id(), self.clock()
        expires = int(now + self.ttl_s)
        await self.repo.create(upload_id, subject=subject, now_s=now, expires_s=expires)
        url = self.signer.sign(
            upload_key(upload_id), method="PUT", expires_s=expires - int(now), now=int(now)
        )
        return Grant(upload_id, url, datetime.fromtimestamp(expires, UTC))

    async def receive(
        self,
        upload_id: str,
        chunks: AsyncIterable[bytes],
        *,
        expires: str,
        sig: str,
        length: int | None = None,
    ) -> int:
        """Store one PUT's body as the upload's object; returns its size."""
        now = self.clock()
        try:
            self.signer.verify(
                upload_key(upload_id), method="PUT", expires=expires, signature=sig, now=now
            )
        except SignatureExpired:
            raise _expired() from None
        except (InvalidSignature, InvalidKey):
            raise ApiError(403, "forbidden", "this link is not valid for that upload") from None
        if (
            await self.repo.claim(upload_id, from_state="pending", to="receiving", now_s=now)
            is None
        ):
            raise _refusal(await self.repo.get(upload_id), now, verb="PUT")
        try:
            stored = await self.objects.put_stream(upload_key(upload_id), chunks, length=length)
        except Exception:
            await self.repo.move(
                upload_id, from_state="receiving", to="pending", now_s=self.clock()
            )
            raise
        if not await self.repo.move(
            upload_id, from_state="receiving", to="received", now_s=self.clock()
        ):  # expired and swept meanwhile
            await self.objects.delete(upload_key(upload_id))
            raise _expired()
        return stored.size_bytes

    async def start_complete(self, upload_id: str, *, subject: str) -> str:
        """Claim a received upload for completing; returns its object key."""
        now = self.clock()
        record = await self.repo.get(upload_id)
        if record is None or record.subject != subject:
            raise ApiError(404, "not_found", "no such upload")
        if (
            await self.repo.claim(upload_id, from_state="received", to="completing", now_s=now)
            is None
        ):
            raise _refusal(await self.repo.get(upload_id), now, verb="complete")
        return upload_key(upload_id)

    async def end_complete(
        self, upload_id: str, *, to: UploadState, track_id: str | None = None
    ) -> None:
        """``completed`` or ``failed`` (the object is deleted), or back to ``received`` after
        a failure that was not the upload's fault, so complete can be tried again."""
        await self.repo.move(
            upload_id, from_state="completing", to=to, now_s=self.clock(), track_id=track_id
        )
        if to != "received":
            await self.objects.delete(upload_key(upload_id))


def _expired() -> ApiError:
    return ApiError(410, "expired", "this upload link has expired; ask for a new one")


def _refusal(record: UploadRecord | None, now: float, *, verb: str) -> ApiError:
    if record is None:
        return ApiError(404, "not_found", "no such upload")
    if record.state == "expired" or record.expires_s <= now:
        return _expired()
    if record.state == "pending":
        return ApiError(404, "not_found", "nothing was uploaded to that URL yet")
    if record.state in ("receiving", "completing"):
        return ApiError(409, "busy", f"this upload is still {record.state}; {verb} refused")
    if record.state == "completed":
        return ApiError(
            409,
            "already_completed",
            f"this upload was completed as track {record.track_id}; ask for a new "
            "URL to upload again",
        )
    return ApiError(409, "already_used", "this upload link was already used; ask for a new one")


@dataclass(frozen=True, slots=True)
class UploadSweeper:
    """Expires unfinished uploads whose URL's lifetime is over and deletes their objects."""

    repo: UploadRepo
    objects: ObjectStore
    clock: Callable[[], float] = time.time

    async def sweep(self) -> int:
        now = self.clock()
        found = await self.repo.expired(now_s=now, states=("pending", "receiving", "received"))
        found += await self.repo.expired(now_s=now - COMPLETING_GRACE_S, states=("completing",))
        swept = 0
        for record in found:
            if await self.repo.move(
                record.upload_id, from_state=record.state, to="expired", now_s=now
            ):
                await self.objects.delete(upload_key(record.upload_id))
                swept += 1
        if swept:
            log.info("swept %d expired presigned uploads", swept)
        return swept
