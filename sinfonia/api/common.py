from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from sinfonia.accounts.models import User
from sinfonia.accounts.services import apikeys
from sinfonia.core import errors
from sinfonia.core.context import Actor


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer sfk_...`` with a key from ``sinfonia apikey create``."""

    openapi_description = "An API key created in the profile page or with `sinfonia apikey create`."

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        key = apikeys.authenticate(token)
        if key is None:
            return None
        request.user = key.user
        request.sinfonia_read_only = key.read_only  # type: ignore[attr-defined]
        return key.user


class ActiveSessionAuth(SessionAuth):
    """The portal's session cookie (CSRF token required on writes)."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


AUTH = [ApiKeyAuth(), ActiveSessionAuth()]

STATUS: dict[type[errors.ServiceError], int] = {
    errors.Unauthenticated: 401,
    errors.NotFound: 404,
    errors.PermissionDenied: 403,
    errors.Conflict: 409,
    errors.Invalid: 400,
    errors.Throttled: 429,
}


def status_for(exc: errors.ServiceError) -> int:
    """The HTTP status of a service error (the REST front-ends' one translator)."""
    if str(exc.code) == "too_large":
        return 413
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def actor(request: HttpRequest) -> Actor:
    user = getattr(request, "auth", None)
    return Actor(
        user=user if isinstance(user, User) else None,
        channel="api",
        client=client_address(request),
        read_only=bool(getattr(request, "sinfonia_read_only", False)),
    )
