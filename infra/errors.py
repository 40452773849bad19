"""Errors the infrastructure adapters raise, so services can react without knowing the backend."""

from __future__ import annotations


class InfraError(Exception):
    """Base class of every adapter error."""


class NotFound(InfraError, LookupError):
    """The document or object does not exist."""


class Conflict(InfraError):
    """The write contradicts what is stored (e.g. same id, different content)."""


class InvalidKey(InfraError, ValueError):
    """An object key or prefix is unsafe or malformed (path traversal, NUL, too long, ...)."""


class InvalidSignature(InfraError):
    """A signed URL was tampered with, is for another object or method, or is malformed."""


class SignatureExpired(InvalidSignature):
    """A signed URL was valid but its expiry has passed."""


class SizeMismatch(InfraError, ValueError):
    """A stream delivered a different number of bytes than its declared length."""


class StoreUnavailable(InfraError):
    """A backing server did not answer (start-up, network)."""


def is_outage(exc: BaseException) -> bool:
    """Did ``exc`` come from a dependency being away (object store or MongoDB not answering, a
    refused connection) rather than from the message being handled?"""
    if isinstance(exc, StoreUnavailable | ConnectionError):
        return True
    try:
        from pymongo.errors import ConnectionFailure  # AutoReconnect, server selection, timeouts
    except ImportError:  # pragma: no cover - pymongo is a dependency of every service
        return False
    return isinstance(exc, ConnectionFailure)
