"""Log-in throttling: failures counted per account and per client address in a sliding window,
shared by the portal and the API (and SFTP: tests/sftp/test_two_factor.py), with a clear
message and 429."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F
from django.test import Client

from sinfonia.accounts.models import LoginFailure, User
from sinfonia.audit.models import AuditEvent
from sinfonia.cli import main
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


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.SINFONIA_LOGIN_MAX_FAILURES = 3
    settings.SINFONIA_LOGIN_LOCKOUT_MINUTES = 10
    settings.SINFONIA_LOGIN_MAX_FAILURES_PER_ADDRESS = 8


def portal_login(client: Client, username: str, password: str) -> Any:
    return client.post("/login/", {"username": username, "password": password})


def test_an_account_is_locked_after_repeated_failures_everywhere(
    make_user: Callable[..., User],
) -> None:
    make_user("erin")
    client = portal()
    for _ in range(3):
        wrong = portal_login(client, "erin", "wrong-Pass-1")
        assert wrong.status_code == 200 and b"Wrong user name or password." in wrong.content
    locked = portal_login(client, "erin", PASSWORD)  # the right password, too late
    assert locked.status_code == 429
    assert b"Too many failed log-ins; try again in 10 minutes." in locked.content
    assert "_auth_user_id" not in client.session
    # the API counts the same failures (another address, so it is the account that is locked)
    api = Client(REMOTE_ADDR="10.0.0.9")
    refused = session_login(api, "ERIN", PASSWORD)  # user names count case-blind
    assert refused.status_code == 429
    assert refused.json() == {
        "code": "too_many_failures",
        "detail": "Too many failed log-ins; try again in 10 minutes.",
    }
    assert 590 <= int(refused["Retry-After"]) <= 600
    assert AuditEvent.objects.filter(action="login.locked", detail__target="erin").count() == 1

    # the window slides: once the failures are older than 10 minutes, the account is free
    LoginFailure.objects.update(at=F("at") - timedelta(minutes=11))
    assert session_login(api, "erin", PASSWORD).status_code == 200


def test_the_lock_lifts_as_the_oldest_failure_leaves_the_window(
    make_user: Callable[..., User],
) -> None:
    make_user("fred")
    client = portal()
    for _ in range(3):
        portal_login(client, "fred", "wrong-Pass-1")
    oldest = LoginFailure.objects.order_by("at").first()
    assert oldest is not None
    LoginFailure.objects.filter(pk=oldest.pk).update(at=oldest.at - timedelta(minutes=7))
    page = portal_login(client, "fred", PASSWORD)
    assert b"try again in 3 minutes." in page.content
    LoginFailure.objects.filter(pk=oldest.pk).update(
        at=oldest.at - timedelta(minutes=10, seconds=1)
    )
    assert portal_login(client, "fred", PASSWORD).status_code == 302


def test_a_successful_log_in_resets_the_account_counter(make_user: Callable[..., User]) -> None:
    make_user("gina")
    for _ in range(2):
        assert session_login(portal(), "gina", "wrong-Pass-1").status_code == 401
    assert session_login(portal(), "gina", PASSWORD).status_code == 200
    for _ in range(2):
        assert session_login(portal(), "gina", "wrong-Pass-1").status_code == 401
    assert session_login(portal(), "gina", PASSWORD).status_code == 200


def test_one_address_guessing_many_accounts_is_locked(make_user: Callable[..., User]) -> None:
    make_user("hank")
    guesser = Client(REMOTE_ADDR="192.0.2.7")
    for n in range(8):
        assert session_login(guesser, f"user{n}", "wrong-Pass-1").status_code == 401
    assert session_login(guesser, "hank", PASSWORD).status_code == 429
    # hank himself, from elsewhere, is not concerned
    assert session_login(Client(REMOTE_ADDR="192.0.2.8"), "hank", PASSWORD).status_code == 200


def test_wrong_codes_count_and_the_code_step_says_so(
    make_user: Callable[..., User], api_for: Callable[..., Api]
) -> None:
    ivan = make_user("ivan")
    secret, _ = enrol(api_for(ivan))
    client = portal()
    assert portal_login(client, "ivan", PASSWORD)["Location"] == "/login/code/"
    for _ in range(3):
        assert client.post("/login/code/", {"code": "000000"}).status_code == 400
    locked = client.post("/login/code/", {"code": code(secret, 1)}, follow=True)
    assert b"Too many failed log-ins; try again in 10 minutes." in locked.content
    assert "_auth_user_id" not in client.session
    refused = session_login(portal(), "ivan", PASSWORD, code(secret, 1))
    assert refused.status_code == 429


def test_a_site_administrator_unlocks_an_account_from_the_console(
    capsys: pytest.CaptureFixture[str], make_user: Callable[..., User]
) -> None:
    make_user("quinn")
    for _ in range(3):
        session_login(portal(), "quinn", "wrong-Pass-1")
    assert session_login(portal(), "quinn", PASSWORD).status_code == 429
    assert main(["user", "unlock", "quinn"]) == 0
    assert capsys.readouterr().out == "quinn: 3 failed log-in(s) forgotten\n"
    assert session_login(portal(), "quinn", PASSWORD).status_code == 200
