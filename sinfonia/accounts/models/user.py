from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import salted_hmac


class User(AbstractUser):
    """A person with an account. ``is_superuser`` marks a site administrator.

    Django's own permission groups (``groups``) are not used: research groups are
    `sinfonia.accounts.models.Group`, reached through ``memberships``.

    ``session_salt`` enters the hash that every session of the user carries (besides the
    password, as in Django): changing it ("log out everywhere") ends all of them, and voids the
    portal's upload tokens.
    """

    session_salt = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        db_table = "accounts_user"
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's own hash (AbstractBaseUser), over the password and the salt; an empty salt
        # gives Django's value, so sessions made before the salt existed stay valid.
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        return salted_hmac(
            key_salt, self.password + self.session_salt, secret=secret, algorithm="sha256"
        ).hexdigest()
