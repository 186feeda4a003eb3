"""Sinfonia's own deployment checks, in Django's check registry (tag ``sinfonia``, deploy).

`sinfonia check` (sinfonia/cli/check.py) runs them with Django's deploy checks and any other
registered check (accounts registers "administrator without two-factor authentication").
Registered from `sinfonia.web.apps.WebConfig.ready`. IDs: sinfonia.E0xx errors, W0xx warnings.
"""

from __future__ import annotations

import ipaddress
import stat
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", ".localhost"}


def _is_local(host: str) -> bool:
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@register("sinfonia", deploy=True)
def unsafe_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    if settings.DEBUG:
        found.append(
            Error(
                "Debug mode is on (SINFONIA_DEBUG=1): error pages show settings, code and data.",
                hint="Unset SINFONIA_DEBUG in production.",
                id="sinfonia.E001",
            )
        )
    key = str(settings.SECRET_KEY)
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure"):
        found.append(
            Error(
                "The secret key is short or a default: sessions and signed tokens can be forged.",
                hint="Remove SINFONIA_SECRET_KEY to use the generated one, or set 50+ random "
                "characters (python -c 'import secrets; print(secrets.token_urlsafe(50))').",
                id="sinfonia.E002",
            )
        )
    public = [h for h in settings.ALLOWED_HOSTS if not _is_local(h)]
    if "*" in settings.ALLOWED_HOSTS:
        found.append(
            Warning(
                "ALLOWED_HOSTS accepts any Host header (SINFONIA_ALLOWED_HOSTS unset).",
                hint="Set SINFONIA_ALLOWED_HOSTS to the server's public name(s).",
                id="sinfonia.W001",
            )
        )
    if public and not getattr(settings, "SINFONIA_HTTPS", False):
        found.append(
            Warning(
                "The server answers public host names but HTTPS is off: passwords, session "
                "cookies and API keys would cross the network in clear text.",
                hint="Serve behind a TLS proxy and set SINFONIA_HTTPS=1 (docs/deploy.md).",
                id="sinfonia.W002",
            )
        )
    if str(settings.DATABASES["default"]["ENGINE"]).endswith("sqlite3"):
        found.append(
            Warning(
                "The database is SQLite: fine for trying Sinfonia, not for many users.",
                hint="Set SINFONIA_DATABASE_URL=postgres://... (docs/deploy.md).",
                id="sinfonia.W003",
            )
        )
    found.extend(_data_folder())
    return found


def _data_folder() -> list[CheckMessage]:
    secret = settings.DATA_DIR / "secret_key"
    if secret.exists() and secret.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            Warning(
                f"{secret} is readable by other accounts on this machine.",
                hint=f"chmod 600 {secret}",
                id="sinfonia.W004",
            )
        ]
    return []
