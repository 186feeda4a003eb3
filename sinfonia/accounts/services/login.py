"""Log-in for every front-end (portal, the API's session, SFTP): credentials, the second
factor, throttling of failures, and ending all sessions of a user.

Failures are rows of `LoginFailure`, so every front-end of the process (and every process on
the same database) counts them together. While an account has ``SINFONIA_LOGIN_MAX_FAILURES``
failures in the last ``SINFONIA_LOGIN_LOCKOUT_MINUTES`` (a sliding window), or a client address
``SINFONIA_LOGIN_MAX_FAILURES_PER_ADDRESS``, attempts are refused with `Throttled` before the
password is even checked. A successful log-in clears the account's failures (not the
address's: one valid account must not reset a guessing run on others).
See docs/decisions/0006-login-security.md.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import LoginFailure, User
from sinfonia.accounts.services import apikeys, twofactor
from sinfonia.accounts.services.users import require_site_admin
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Throttled, Unauthenticated


def _window() -> timedelta:
    return timedelta(minutes=settings.SINFONIA_LOGIN_LOCKOUT_MINUTES)


def _locked_for(failures: QuerySet[LoginFailure], limit: int, now: datetime) -> float:
    """Seconds until fewer than ``limit`` of ``failures`` lie in the window (0: not locked)."""
    if limit <= 0:
        return 0.0
    recent = list(
        failures.filter(at__gt=now - _window()).order_by("-at").values_list("at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return 0.0
    return max((recent[-1] + _window() - now).total_seconds(), 1.0)


def retry_after(username: str, client: str) -> float:
    """Seconds before ``username`` may try again from ``client`` (0 when they may now)."""
    now = timezone.now()
    by_account = _locked_for(
        LoginFailure.objects.filter(username=username.lower()),
        settings.SINFONIA_LOGIN_MAX_FAILURES,
        now,
    )
    by_client = _locked_for(
        LoginFailure.objects.filter(client=client),
        settings.SINFONIA_LOGIN_MAX_FAILURES_PER_ADDRESS,
        now,
    )
    return max(by_account, by_client)


def _check_throttle(username: str, client: str) -> None:
    wait = retry_after(username, client)
    if wait > 0:
        minutes = math.ceil(wait / 60)
        raise Throttled(
            AccountError.TOO_MANY_FAILURES,
            f"Too many failed log-ins; try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            retry_after=math.ceil(wait),
            minutes=minutes,
        )


def _fail(username: str, channel: str, client: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        LoginFailure.objects.filter(at__lte=now - _window()).delete()
        LoginFailure.objects.create(
            username=username.lower()[:150], client=client[:255], channel=channel, at=now
        )
        if retry_after(username, client) > 0:
            actor = Actor(user=None, channel=channel, client=client)
            record(actor, "login.locked", None, target=username[:150])


def _succeed(user: User) -> None:
    LoginFailure.objects.filter(username=user.username.lower()).delete()


def check_password(username: str, password: str, *, channel: str, client: str) -> User:
    """First step of a log-in: the active account ``username`` if ``password`` is its password.

    Does not look at the second factor (see `check_second_factor`). Raises Throttled while
    locked out, Unauthenticated (counted as a failure) for a wrong name or password.
    """
    _check_throttle(username, client)
    user = authenticate(None, username=username, password=password)
    if not isinstance(user, User) or not user.is_active:
        _fail(username, channel, client)
        raise Unauthenticated(AccountError.BAD_CREDENTIALS, "Wrong user name or password.")
    if not twofactor.is_enabled(user):
        _succeed(user)
    return user


def check_second_factor(user: User, code: str, *, channel: str, client: str) -> None:
    """Second step: ``code`` is a current TOTP code or an unused recovery code of ``user``.

    Raises Throttled while locked out, Unauthenticated (counted as a failure) for a wrong code.
    """
    _check_throttle(user.username, client)
    actor = Actor(user=user, channel=channel, client=client)
    if not twofactor.verify(actor, user, code):
        _fail(user.username, channel, client)
        raise Unauthenticated(AccountError.BAD_OTP, "That code is wrong.")
    _succeed(user)


def check_credentials(
    username: str, password: str, otp: str | None, *, channel: str, client: str
) -> User:
    """A one-request log-in (the API's session): password, and ``otp`` when the account has
    two-factor log-in (Unauthenticated ``otp_required`` without it)."""
    user = check_password(username, password, channel=channel, client=client)
    if twofactor.is_enabled(user):
        if not otp:
            raise Unauthenticated(
                AccountError.OTP_REQUIRED,
                "This account has two-factor log-in: give the code of your authenticator app.",
            )
        check_second_factor(user, otp, channel=channel, client=client)
    return user


def check_app_password(
    username: str, secret: str, *, channel: str, client: str
) -> tuple[User, bool] | None:
    """Log-in for protocols that cannot ask for a second factor (SFTP).

    ``secret`` is an API key of ``username`` (an "app password"), or the account's password
    when the account has no two-factor log-in. Returns the user and whether the session is
    read-only (a read-only key); None when refused (throttled, wrong, or a bare password of a
    two-factor account); failures count like any other.
    """
    try:
        _check_throttle(username, client)
    except Throttled:
        return None
    if secret.startswith(apikeys.PREFIX):
        key = apikeys.authenticate(secret)
        if key is None or key.user.username != username:
            _fail(username, channel, client)
            return None
        _succeed(key.user)
        return key.user, key.read_only
    try:
        user = check_password(username, secret, channel=channel, client=client)
    except (Unauthenticated, Throttled):
        return None
    return None if twofactor.is_enabled(user) else (user, False)


@transaction.atomic
def unlock(actor: Actor, username: str) -> int:
    """Forget the failed log-ins of ``username`` (the account may log in at once; a locked
    client address stays locked). Site administrators only; returns how many were forgotten."""
    require_site_admin(actor, "unlock accounts")
    count, _ = LoginFailure.objects.filter(username=username.lower()).delete()
    record(actor, "login.unlock", None, target=username, failures=count)
    return count


@transaction.atomic
def end_all_sessions(actor: Actor) -> None:
    """Log the actor out everywhere: every session of theirs (this one included) ends at its
    next request, and the portal's upload tokens stop working. API keys stay valid."""
    user = actor.user
    if user is None or not actor.is_authenticated:
        raise Unauthenticated(AccountError.LOGIN_REQUIRED, "Sign in first.")
    user.session_salt = secrets.token_hex(16)
    user.save(update_fields=["session_salt"])
    record(actor, "user.logout_everywhere", None, target=user.username)
