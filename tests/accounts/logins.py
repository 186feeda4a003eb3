"""Helpers of the log-in tests: TOTP codes computed with pyotp, as an authenticator app does.

(Not a conftest.py, which other test files of this folder may bring: modules import what they use,
`fast_passwords` included.)
"""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from django.test import Client

from sinfonia.accounts.models import User
from sinfonia.core.context import Actor
from sinfonia.support.services import pages
from tests.conftest import Api

PASSWORD = "a-Long-pass-123"  # what tests/conftest.py's make_user gives every account


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """Argon2 costs ~0.1 s a log-in; these tests log in a lot."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def code(secret: str, steps_ahead: int = 0) -> str:
    """The app's code ``steps_ahead`` 30-second steps from now (1: the next one; a code is
    accepted once, so a second log-in in the same step takes the next step's code)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def enrol(api: Api) -> tuple[str, list[str]]:
    """Two-factor log-in switched on through the API; returns the secret and recovery codes."""
    secret = api.ok(api.post("/users/me/two-factor"), 201)["secret"]
    codes = api.ok(api.post("/users/me/two-factor/confirm", {"code": code(secret)}))
    return secret, codes["recovery_codes"]


def portal(user: User | None = None) -> Client:
    """A browser-like client; signed in (policy accepted) when ``user`` is given."""
    client = Client()
    if user is not None:
        pages.accept_policy(Actor(user=user, channel="web"))
        client.force_login(user)
    return client


def session_login(client: Client, username: str, password: str, otp: str | None = None) -> Any:
    body: dict[str, Any] = {"username": username, "password": password}
    if otp is not None:
        body["otp"] = otp
    return client.post("/api/v1/session", body, content_type="application/json")
