"""Two-factor log-in with TOTP (RFC 6238) and single-use recovery codes.

Enrolment is two steps: `start_enrolment` makes a secret (shown as a QR code and as text),
`confirm_enrolment` switches two-factor log-in on once the user types a code their app computed
from it, and returns the recovery codes (shown that once only). `verify` checks a TOTP code or a
recovery code at log-in; `disable` needs the password and a code.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

import pyotp
import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sinfonia.accounts import sealed
from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import RecoveryCode, TwoFactor, User
from sinfonia.accounts.services.users import require_site_admin
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, Unauthenticated

RECOVERY_CODES = 10
# Lower-case letters and digits without the look-alikes 0/o, 1/l/i: 31 symbols; ten of them
# make about 50 random bits.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_CODE_LENGTH = 10
# Codes of the step before and after the current one are accepted: clocks drift.
_DRIFT_STEPS = 1
SEAL = "totp"  # the purpose the seeds' key is derived for (`accounts.sealed`)

log = logging.getLogger("sinfonia.twofactor")


@dataclass(frozen=True)
class Enrolment:
    """What the user needs to set up their app: the secret, as text and as a QR code."""

    secret: str
    uri: str  # otpauth://totp/...
    qr_svg_data_uri: str


@dataclass(frozen=True)
class Status:
    enabled: bool
    pending: bool
    recovery_codes_left: int


def _user(actor: Actor) -> User:
    if actor.user is None or not actor.is_authenticated:
        raise Unauthenticated(AccountError.LOGIN_REQUIRED, "Sign in first.")
    return actor.user


def _active(user: User) -> TwoFactor | None:
    return TwoFactor.objects.filter(user=user, confirmed_at__isnull=False).first()


def is_enabled(user: User) -> bool:
    return TwoFactor.objects.filter(user=user, confirmed_at__isnull=False).exists()


def enrolment_required(user: User) -> bool:
    """True for a site administrator without two-factor log-in when the site demands it."""
    return bool(
        settings.SINFONIA_REQUIRE_2FA_FOR_ADMINS
        and user.is_superuser
        and user.is_active
        and not is_enabled(user)
    )


def status(actor: Actor) -> Status:
    user = _user(actor)
    row = TwoFactor.objects.filter(user=user).first()
    left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
    return Status(
        enabled=bool(row and row.confirmed_at),
        pending=bool(row and not row.confirmed_at),
        recovery_codes_left=left if row and row.confirmed_at else 0,
    )


def _enrolment(user: User, secret: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=user.username, issuer_name=settings.SINFONIA_TOTP_ISSUER
    )
    # Dark modules on white whatever the page's theme: phone cameras need the contrast.
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, dark="#000", light="#fff", border=4)
    return Enrolment(secret=secret, uri=uri, qr_svg_data_uri=qr)


@transaction.atomic
def start_enrolment(actor: Actor) -> Enrolment:
    """Make a new secret for the actor (replacing an unconfirmed one). Two-factor log-in stays
    off until `confirm_enrolment`. Raises Conflict when it is already on."""
    user = _user(actor)
    if is_enabled(user):
        raise Conflict(AccountError.TWO_FACTOR_ON, "Two-factor log-in is already on.")
    secret = pyotp.random_base32()
    TwoFactor.objects.update_or_create(
        user=user,
        defaults={"secret": sealed.seal(secret, SEAL), "confirmed_at": None, "last_step": 0},
    )
    return _enrolment(user, secret)


def pending_enrolment(actor: Actor) -> Enrolment | None:
    """The enrolment started but not confirmed yet (the profile page shows it again)."""
    user = _user(actor)
    row = TwoFactor.objects.filter(user=user, confirmed_at__isnull=True).first()
    secret = _secret(row) if row else None
    return _enrolment(user, secret) if secret else None


def _secret(row: TwoFactor) -> str | None:
    """The seed in clear; None when it was sealed with a key the server no longer has."""
    try:
        return sealed.unseal(row.secret, SEAL)
    except sealed.Unreadable:
        log.warning(
            "the two-factor seed of user %s cannot be read: SECRET_KEY changed without "
            "SINFONIA_SECRET_KEY_FALLBACKS; they can sign in with a recovery code",
            row.user_id,
        )
        return None


def _matching_step(row: TwoFactor, code: str) -> int | None:
    """The time step whose code is ``code`` (now, or one step off), if not used before."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    secret = _secret(row)
    if secret is None:
        return None
    totp = pyotp.TOTP(secret)
    now = timezone.now()
    current = totp.timecode(now)
    for offset in range(-_DRIFT_STEPS, _DRIFT_STEPS + 1):
        step = current + offset
        if step > row.last_step and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _new_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    raw = [
        "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=_hash(c)) for c in raw)
    return [f"{c[:5]}-{c[5:]}" for c in raw]


@transaction.atomic
def confirm_enrolment(actor: Actor, code: str) -> list[str]:
    """Switch two-factor log-in on if ``code`` is the app's current code for the pending secret.

    Returns new recovery codes, in clear this once only. Raises Conflict without a pending
    enrolment, Invalid for a wrong code.
    """
    user = _user(actor)
    row = TwoFactor.objects.select_for_update().filter(user=user).first()
    if row is None or row.confirmed_at is not None:
        raise Conflict(AccountError.TWO_FACTOR_OFF, "Start the set-up first.")
    step = _matching_step(row, code)
    if step is None:
        raise Invalid(AccountError.BAD_OTP, "That code is wrong; check the phone's clock.")
    row.confirmed_at = timezone.now()
    row.last_step = step
    row.save(update_fields=["confirmed_at", "last_step"])
    codes = _new_codes(user)
    record(actor, "twofactor.enable", None, target=user.username)
    return codes


@transaction.atomic
def verify(actor: Actor, user: User, code: str) -> bool:
    """Whether ``code`` is ``user``'s current TOTP code or one of their unused recovery codes;
    a code is accepted once only. Records the use of a recovery code. Throttling is the
    caller's (`sinfonia.accounts.services.login`)."""
    row = TwoFactor.objects.select_for_update().filter(user=user).first()
    if row is None or row.confirmed_at is None:
        return False
    step = _matching_step(row, code)
    if step is not None:
        row.last_step = step
        row.save(update_fields=["last_step"])
        return True
    normalised = _normalise(code)
    if len(normalised) != _CODE_LENGTH:
        return False
    used = RecoveryCode.objects.filter(
        user=user, code_hash=_hash(normalised), used_at__isnull=True
    ).update(used_at=timezone.now())
    if used:
        left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
        record(actor, "twofactor.recovery_code_used", None, target=user.username, left=left)
    return bool(used)


@transaction.atomic
def regenerate_codes(actor: Actor, code: str) -> list[str]:
    """Replace the actor's recovery codes (the old ones stop working); needs a current code."""
    user = _user(actor)
    if not is_enabled(user):
        raise Conflict(AccountError.TWO_FACTOR_OFF, "Two-factor log-in is off.")
    if not verify(actor, user, code):
        raise Invalid(AccountError.BAD_OTP, "That code is wrong.")
    codes = _new_codes(user)
    record(actor, "twofactor.recovery_codes", None, target=user.username)
    return codes


@transaction.atomic
def disable(actor: Actor, password: str, code: str) -> None:
    """Switch two-factor log-in off: the actor's password and a TOTP or recovery code."""
    user = _user(actor)
    if not is_enabled(user):
        raise Conflict(AccountError.TWO_FACTOR_OFF, "Two-factor log-in is off.")
    if not user.check_password(password):
        raise Invalid(AccountError.BAD_CREDENTIALS, "The password is wrong.")
    if not verify(actor, user, code):
        raise Invalid(AccountError.BAD_OTP, "That code is wrong.")
    TwoFactor.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    record(actor, "twofactor.disable", None, target=user.username)


@transaction.atomic
def reset(actor: Actor, user: User) -> bool:
    """Switch ``user``'s two-factor log-in off without a code (lost phone and recovery codes).
    Site administrators only; returns whether it was on."""
    require_site_admin(actor, "reset other people's two-factor log-in")
    was_on = is_enabled(user)
    TwoFactor.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    if was_on:
        record(actor, "twofactor.reset", None, target=user.username)
    return was_on


def cancel_enrolment(actor: Actor) -> None:
    """Drop an enrolment started but not confirmed (nothing happens when there is none)."""
    TwoFactor.objects.filter(user=_user(actor), confirmed_at__isnull=True).delete()
