"""Service-layer errors.

Every domain names its failures in an `ErrorCode` enum (``<domain>/errors.py``) and raises one of
the four exception kinds below. Each front-end has exactly one translator from kind to its own
status vocabulary (HTTP status, DIMSE status, SFTP code, CLI exit code).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class CoreError(StrEnum):
    """Failures that belong to no one domain."""

    READ_ONLY_KEY = "read_only_key"


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, code: StrEnum, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFound(ServiceError):
    """Missing, or not readable by the actor: the two are indistinguishable on purpose."""


class PermissionDenied(ServiceError):
    """The actor may see the object but lacks the level the operation needs."""


class Invalid(ServiceError):
    """The request is malformed or violates a rule (bad name, wrong kind of destination)."""


class Conflict(ServiceError):
    """The request clashes with existing state (name taken, cycle, already a member)."""


class Unauthenticated(ServiceError):
    """No identity was established for an operation that needs one."""


class Throttled(ServiceError):
    """Too many attempts: the actor must wait (``details["retry_after"]``, in seconds)."""
