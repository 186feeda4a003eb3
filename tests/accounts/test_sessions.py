"""Sessions: they end with the browser, after the idle time, and everywhere on request."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sinfonia.accounts.models import User
from sinfonia.accounts.services import apikeys
from sinfonia.audit.models import AuditEvent
from sinfonia.web.auth import PENDING, PENDING_SECONDS
from sinfonia.web.middleware import LAST_SEEN
from tests.accounts.logins import (
    PASSWORD,
    code,
    enrol,
    fast_passwords,  # noqa: F401  (an autouse fixture)
    portal,
    session_login,
)
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def age(client: Any, seconds: float) -> None:
    """Pretend the client's last request was ``seconds`` ago."""
    session = client.session
    session[LAST_SEEN] = time.time() - seconds
    session.save()


def test_sessions_end_with_the_browser(make_user: Callable[..., User]) -> None:
    make_user("jane")
    client = portal()
    assert client.post("/login/", {"username": "jane", "password": PASSWORD}).status_code == 302
    assert client.session.get_expire_at_browser_close()
    assert client.cookies["sessionid"]["expires"] == ""  # no date: a browser-session cookie


def test_idle_sessions_end_and_the_portal_says_why(
    settings: Any, make_user: Callable[..., User]
) -> None:
    settings.SINFONIA_SESSION_IDLE_MINUTES = 20
    client = portal(make_user("kate"))
    assert client.get("/trash/").status_code == 200
    age(client, 19 * 60)  # active enough
    assert client.get("/trash/").status_code == 200
    assert time.time() - client.session[LAST_SEEN] < 5  # the request counted as activity
    age(client, 21 * 60)
    expired = client.get("/trash/?x=1")
    assert expired.status_code == 302
    assert expired["Location"] == "/login/?next=%2Ftrash%2F%3Fx%3D1"
    assert "_auth_user_id" not in client.session
    page = client.get(expired["Location"]).content.decode()
    assert "Your session ended after 20 minutes without activity; log in again." in page
    # htmx fragments make the whole page go to the log-in page
    client = portal(User.objects.get(username="kate"))
    client.get("/trash/")
    age(client, 30 * 60)
    fragment = client.get("/trash/", headers={"HX-Request": "true"})
    assert fragment["HX-Redirect"] == "/login/"


def test_idle_api_sessions_end_with_401(settings: Any, make_user: Callable[..., User]) -> None:
    settings.SINFONIA_SESSION_IDLE_MINUTES = 5
    make_user("liam")
    client = portal()
    assert session_login(client, "liam", PASSWORD).status_code == 200
    assert client.get("/api/v1/users/me").status_code == 200
    age(client, 6 * 60)
    assert client.get("/api/v1/users/me").status_code == 401


def test_log_out_everywhere_from_the_profile_page(
    make_user: Callable[..., User], api_for: Callable[..., Api]
) -> None:
    mia = make_user("mia")
    key_api = api_for(mia)
    laptop, desktop = portal(mia), portal()
    assert session_login(desktop, "mia", PASSWORD).status_code == 200
    token = desktop.post("/api/v1/upload-tokens").json()["token"]
    assert desktop.get("/api/v1/users/me").status_code == 200

    done = laptop.post("/profile/sessions/end/")
    assert done["Location"] == "/login/"
    assert (
        "You were logged out on every device and browser." in laptop.get("/login/").content.decode()
    )
    assert laptop.get("/profile/")["Location"].startswith("/login/")
    assert desktop.get("/api/v1/users/me").status_code == 401
    # the upload token (what the tus endpoints check) is void too; API keys are not
    assert apikeys.authenticate_upload_token(token) is None
    assert key_api.get("/users/me").status_code == 200
    assert AuditEvent.objects.filter(action="user.logout_everywhere", username="mia").exists()
    # logging in again works as before
    assert session_login(desktop, "mia", PASSWORD).status_code == 200


def test_log_out_everywhere_through_the_api(make_user: Callable[..., User]) -> None:
    make_user("noah")
    first, second = portal(), portal()
    for client in (first, second):
        assert session_login(client, "noah", PASSWORD).status_code == 200
    csrf = first.cookies["csrftoken"].value
    ended = first.delete("/api/v1/users/me/sessions", headers={"X-CSRFToken": csrf})
    assert ended.status_code == 204
    assert first.get("/api/v1/users/me").status_code == 401
    assert second.get("/api/v1/users/me").status_code == 401


def test_portal_log_in_goes_only_to_local_pages(make_user: Callable[..., User]) -> None:
    make_user("owen")
    client = portal()
    for target, expected in (("/trash/", "/trash/"), ("https://evil.example/", "/")):
        answer = client.post("/login/", {"username": "owen", "password": PASSWORD, "next": target})
        assert answer["Location"] == expected
        client.post("/logout/")


def test_the_code_step_expires(make_user: Callable[..., User], api_for: Callable[..., Api]) -> None:
    paul = make_user("paul")
    secret, _ = enrol(api_for(paul))
    client = portal()
    assert client.post("/login/", {"username": "paul", "password": PASSWORD})["Location"] == (
        "/login/code/"
    )
    session = client.session
    session[PENDING]["at"] -= PENDING_SECONDS + 1
    session.save()
    assert client.post("/login/code/", {"code": code(secret, 1)})["Location"] == "/login/"
    assert "_auth_user_id" not in client.session


def test_idle_expiry_can_be_switched_off(settings: Any, make_user: Callable[..., User]) -> None:
    settings.SINFONIA_SESSION_IDLE_MINUTES = 0
    client = portal(make_user("rita"))
    client.get("/trash/")
    age(client, 30 * 24 * 3600)
    assert client.get("/trash/").status_code == 200
