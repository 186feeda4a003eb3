"""System checks of accounts (``manage.py check --deploy`` and ``sinfonia check``)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError


@register(Tags.security, deploy=True)
def admins_without_two_factor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about site administrators who log in with a password alone."""
    from sinfonia.accounts.models import User

    try:
        names = list(
            User.objects.filter(is_superuser=True, is_active=True)
            .exclude(two_factor__confirmed_at__isnull=False)
            .order_by("username")
            .values_list("username", flat=True)
        )
    except DatabaseError:  # not migrated yet: nothing to say
        return []
    if not names:
        return []
    return [
        Warning(
            f"{len(names)} site administrator(s) without two-factor log-in: {', '.join(names)}.",
            hint="Each sets it up on their profile page; SINFONIA_REQUIRE_2FA_FOR_ADMINS=1 "
            "makes it compulsory.",
            id="sinfonia.accounts.W001",
        )
    ]
