from __future__ import annotations

from django.conf import settings
from django.db import models


class TwoFactor(models.Model):
    """A user's TOTP authenticator (RFC 6238: 30-second steps, 6 digits, SHA-1).

    The row exists from the start of enrolment; two-factor log-in is on once ``confirmed_at`` is
    set (the user typed a code the app computed). ``last_step`` is the time step of the last code
    accepted, so a code cannot be used twice. The server must compute the same codes as the app,
    so ``secret`` cannot be a hash: it is sealed with a key derived from SECRET_KEY
    (`accounts.sealed`); read it through `accounts.services.twofactor`.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factor"
    )
    secret = models.CharField(max_length=160)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"two-factor of {self.user_id} ({'on' if self.confirmed_at else 'pending'})"


class RecoveryCode(models.Model):
    """A single-use code that stands in for a TOTP code (lost phone). Only its SHA-256 is kept:
    the codes are random (50 bits) and log-in attempts are throttled, so a slow hash adds nothing.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="unique_recovery_code"),
        ]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of {self.user_id}"
