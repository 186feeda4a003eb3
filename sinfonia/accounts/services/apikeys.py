from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import ApiKey, Scope, User
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound, PermissionDenied

PREFIX = "sfk_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _require_self_or_admin(actor: Actor, user: User) -> None:
    if actor.is_site_admin or (actor.user is not None and actor.user.pk == user.pk):
        return
    raise PermissionDenied(AccountError.NOT_SITE_ADMIN, "You manage only your own API keys.")


@transaction.atomic
def create_api_key(
    actor: Actor,
    user: User,
    name: str = "",
    *,
    expires_at: datetime | None = None,
    scope: Scope | str = Scope.READ_WRITE,
) -> tuple[ApiKey, str]:
    """Create a key for ``user``; return it with its secret text, shown this once only.

    ``scope`` is ``read`` (look only) or ``read-write``; ``expires_at`` must lie in the future.
    """
    actor.require_write()
    _require_self_or_admin(actor, user)
    if scope not in Scope.values:
        raise Invalid(AccountError.INVALID_API_KEY, f"Unknown scope {scope!r}: read or read-write.")
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid(AccountError.INVALID_API_KEY, "The expiry date must lie in the future.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    full = f"{PREFIX}{prefix}_{secret}"
    key = ApiKey.objects.create(
        user=user,
        name=name or f"key {prefix}",
        prefix=prefix,
        key_hash=_hash(full),
        expires_at=expires_at,
        scope=Scope(scope),
    )
    record(actor, "apikey.create", None, target=user.username, key=prefix, scope=str(scope))
    return key, full


def list_api_keys(actor: Actor, user: User) -> list[ApiKey]:
    _require_self_or_admin(actor, user)
    return list(ApiKey.objects.filter(user=user, revoked_at__isnull=True))


@transaction.atomic
def revoke_api_key(actor: Actor, key_id: int) -> None:
    actor.require_write()
    key = ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True).select_related("user").first()
    if key is None or not (actor.is_site_admin or (actor.user and actor.user.pk == key.user_id)):
        raise NotFound(AccountError.API_KEY_NOT_FOUND, "No such API key.")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    record(actor, "apikey.revoke", None, target=key.user.username, key=key.prefix)


def authenticate(raw: str) -> ApiKey | None:
    """The key ``raw`` (its ``user`` loaded), or None if it is unknown, revoked, expired or its
    owner is deactivated. Front-ends build their Actor with ``read_only=key.read_only``."""
    if not raw.startswith(PREFIX):
        return None
    prefix, _, _ = raw[len(PREFIX) :].partition("_")
    key = (
        ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).select_related("user").first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw)):
        return None
    now = timezone.now()
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if not key.user.is_active:
        return None
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


UPLOAD_TOKEN_PREFIX = "sut_"
_UPLOAD_SALT = "sinfonia.upload-token"


def issue_upload_token(actor: Actor) -> tuple[str, datetime]:
    """A bearer token that lets the portal's background uploads outlive the browser session.

    It authorises the upload endpoints only, for ``SINFONIA_UPLOAD_TOKEN_HOURS``.
    """
    if actor.user is None:
        raise PermissionDenied(AccountError.LOGIN_REQUIRED, "Sign in first.")
    actor.require_write()  # the token authorises writes: a read-only key may not mint one
    # The session salt goes in, so "log out everywhere" voids the tokens too.
    value = f"{actor.user.pk}:{actor.user.session_salt}"
    signed = signing.TimestampSigner(salt=_UPLOAD_SALT).sign(value)
    expires = timezone.now() + timedelta(hours=settings.SINFONIA_UPLOAD_TOKEN_HOURS)
    return UPLOAD_TOKEN_PREFIX + signed, expires


def authenticate_upload_token(raw: str) -> User | None:
    if not raw.startswith(UPLOAD_TOKEN_PREFIX):
        return None
    try:
        value = signing.TimestampSigner(salt=_UPLOAD_SALT).unsign(
            raw[len(UPLOAD_TOKEN_PREFIX) :],
            max_age=timedelta(hours=settings.SINFONIA_UPLOAD_TOKEN_HOURS),
        )
    except signing.BadSignature:
        return None
    user_id, _, session_salt = value.partition(":")
    return User.objects.filter(pk=int(user_id), session_salt=session_salt, is_active=True).first()
