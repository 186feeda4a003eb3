"""The SFTP front-end's one error translator: service errors become SFTP status codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncssh

from sinfonia.core import errors
from sinfonia.transfers.errors import TransferError


def to_sftp(exc: errors.ServiceError) -> asyncssh.SFTPError:
    """NotFound -> FX_NO_SUCH_FILE, PermissionDenied/Unauthenticated -> FX_PERMISSION_DENIED,
    Invalid/Conflict (quota included, its message starting "quota exceeded") -> FX_FAILURE."""
    if exc.code == TransferError.QUOTA_EXCEEDED:
        prefix = "" if exc.message.startswith("quota exceeded") else "quota exceeded: "
        return asyncssh.SFTPFailure(prefix + exc.message)
    if isinstance(exc, errors.NotFound):
        return asyncssh.SFTPNoSuchFile(exc.message)
    if isinstance(exc, errors.PermissionDenied | errors.Unauthenticated):
        return asyncssh.SFTPPermissionDenied(exc.message)
    return asyncssh.SFTPFailure(exc.message)


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except errors.ServiceError as exc:
        raise to_sftp(exc) from exc
