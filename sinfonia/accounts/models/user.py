from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person with an account. ``is_superuser`` marks a site administrator.

    Django's own permission groups (``groups``) are not used: research groups are
    `sinfonia.accounts.models.Group`, reached through ``memberships``.
    """

    class Meta:
        db_table = "accounts_user"
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username
