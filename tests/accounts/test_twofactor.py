"""Two-factor log-in: enrolment (API and profile page), log-in with TOTP codes computed by
pyotp and with recovery codes, switching off, and the site administrators' obligation."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.checks import CheckMessage, run_checks
from django.test import Client

from sinfonia.accounts.models import RecoveryCode, User
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


def actions(username: str) -> list[str]:
    return list(
        AuditEvent.objects.filter(detail__target=username, action__startswith="twofactor.")
        .order_by("pk")
        .values_list("action", flat=True)
    )


CODE = re.compile(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>")


def shown_codes(client: Client) -> list[str]:
    return CODE.findall(client.get("/profile/").content.decode())


def admin_warnings() -> list[CheckMessage]:
    found = run_checks(include_deployment_checks=True)
    return [m for m in found if m.id == "sinfonia.accounts.W001"]


def test_enrolment_through_the_api_then_log_in_with_codes(
    make_user: Callable[..., User], api_for: Callable[[User], Api]
) -> None:
    alice = make_user("alice")
    api = api_for(alice)
    assert api.ok(api.get("/users/me/two-factor")) == {
        "enabled": False,
        "pending": False,
        "recovery_codes_left": 0,
    }
    started = api.ok(api.post("/users/me/two-factor"), 201)
    assert started["uri"].startswith("otpauth://totp/SINFONIA:alice?secret=")
    assert started["qr_svg_data_uri"].startswith("data:image/svg+xml")
    assert api.ok(api.get("/users/me/two-factor"))["pending"] is True
    # still off until a right code comes: the password alone logs in
    assert session_login(portal(), "alice", PASSWORD).status_code == 200
    wrong = api.post("/users/me/two-factor/confirm", {"code": "123456"})
    assert (wrong.status_code, wrong.json()["code"]) == (400, "bad_otp")

    secret = started["secret"]
    codes = api.ok(api.post("/users/me/two-factor/confirm", {"code": code(secret)}))
    recovery = codes["recovery_codes"]
    assert len(recovery) == 10 and len(set(recovery)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in recovery)
    assert api.ok(api.get("/users/me/two-factor")) == {
        "enabled": True,
        "pending": False,
        "recovery_codes_left": 10,
    }
    # only hashes are stored
    stored = set(RecoveryCode.objects.filter(user=alice).values_list("code_hash", flat=True))
    assert not stored & {c.replace("-", "") for c in recovery}
    again = api.post("/users/me/two-factor")
    assert (again.status_code, again.json()["code"]) == (409, "two_factor_on")

    # the API's session log-in now wants the code
    client = portal()
    missing = session_login(client, "alice", PASSWORD)
    assert (missing.status_code, missing.json()["code"]) == (401, "otp_required")
    bad = session_login(client, "alice", PASSWORD, "000000")
    assert (bad.status_code, bad.json()["code"]) == (401, "bad_otp")
    replayed = session_login(client, "alice", PASSWORD, code(secret))  # used to confirm
    assert replayed.status_code == 401
    assert client.get("/api/v1/users/me").status_code == 401
    ok = session_login(client, "alice", PASSWORD, code(secret, 1))
    assert ok.status_code == 200, ok.content
    assert client.get("/api/v1/users/me").json()["username"] == "alice"

    # a recovery code works once, typed in any case, with or without its dash
    typed = recovery[0].upper().replace("-", " ")
    assert session_login(portal(), "alice", PASSWORD, typed).status_code == 200
    assert session_login(portal(), "alice", PASSWORD, recovery[0]).status_code == 401
    assert api.ok(api.get("/users/me/two-factor"))["recovery_codes_left"] == 9
    assert actions("alice") == [
        "twofactor.enable",
        "twofactor.recovery_code_used",
    ]


def test_two_step_portal_log_in(make_user: Callable[..., User], api_for: Callable[..., Api]):
    bob = make_user("bob")
    secret, recovery = enrol(api_for(bob))
    client = portal()
    first = client.post("/login/", {"username": "bob", "password": PASSWORD, "next": "/trash/"})
    assert first.status_code == 302 and first["Location"] == "/login/code/"
    assert "_auth_user_id" not in client.session  # not signed in after the password alone
    assert client.get("/trash/")["Location"].startswith("/login/")
    page = client.get("/login/code/")
    assert b"authenticator app" in page.content and b'name="code"' in page.content

    wrong = client.post("/login/code/", {"code": "999999"})
    assert wrong.status_code == 400 and b"That code is wrong." in wrong.content
    done = client.post("/login/code/", {"code": code(secret, 1)})
    assert done.status_code == 302 and done["Location"] == "/trash/"
    assert client.session["_auth_user_id"] == str(bob.pk)

    # a recovery code instead of the app's code
    other = portal()
    other.post("/login/", {"username": "bob", "password": PASSWORD})
    assert other.post("/login/code/", {"code": recovery[3]})["Location"] == "/"
    assert other.session["_auth_user_id"] == str(bob.pk)

    # the code step without the password step sends back to the log-in page
    assert portal().get("/login/code/")["Location"] == "/login/"


def test_profile_card_enrols_shows_codes_once_regenerates_and_disables(
    make_user: Callable[..., User],
) -> None:
    carol = make_user("carol")
    client = portal(carol)
    page = client.get("/profile/").content.decode()
    assert 'id="two-factor"' in page and 'id="start-2fa"' in page and 'id="end-sessions"' in page

    client.post("/profile/two-factor/", {"action": "start"})
    page = client.get("/profile/").content.decode()
    secret = re.search(r'id="two-factor-secret">([A-Z2-7]+)<', page)
    assert secret is not None
    assert 'src="data:image/svg+xml' in page
    confirmed = client.post("/profile/two-factor/", {"action": "confirm", "code": code(secret[1])})
    assert confirmed["Location"] == "/profile/#two-factor"
    page = client.get("/profile/").content.decode()
    shown = CODE.findall(page)
    assert len(shown) == 10 and "Two-factor log-in is on." in page
    assert "<li>" + shown[0] not in client.get("/profile/").content.decode()  # once only

    client.post("/profile/two-factor/", {"action": "regenerate", "code": code(secret[1], 1)})
    fresh = shown_codes(client)
    assert len(fresh) == 10 and not set(fresh) & set(shown)
    assert session_login(portal(), "carol", PASSWORD, shown[0]).status_code == 401
    assert session_login(portal(), "carol", PASSWORD, fresh[0]).status_code == 200

    wrong = client.post(
        "/profile/two-factor/", {"action": "disable", "password": "nope", "code": fresh[1]}
    )
    assert wrong["Location"] == "/profile/#two-factor"
    assert "The password is wrong." in client.get("/profile/").content.decode()
    off = {"action": "disable", "password": PASSWORD, "code": fresh[1]}
    client.post("/profile/two-factor/", off)
    assert 'id="start-2fa"' in client.get("/profile/").content.decode()
    assert session_login(portal(), "carol", PASSWORD).status_code == 200
    assert actions("carol") == [
        "twofactor.enable",
        "twofactor.recovery_codes",
        "twofactor.recovery_code_used",  # the log-in with fresh[0]
        "twofactor.recovery_code_used",  # fresh[1], to switch off (the wrong password spent none)
        "twofactor.disable",
    ]


def test_disable_through_the_api_needs_password_and_code(
    make_user: Callable[..., User], api_for: Callable[..., Api]
) -> None:
    api = api_for(make_user("dave"))
    secret, _ = enrol(api)
    no_password = api.post(
        "/users/me/two-factor/disable", {"password": "x", "code": code(secret, 1)}
    )
    assert (no_password.status_code, no_password.json()["code"]) == (400, "bad_credentials")
    no_code = api.post("/users/me/two-factor/disable", {"password": PASSWORD, "code": "111111"})
    assert (no_code.status_code, no_code.json()["code"]) == (400, "bad_otp")
    assert api.ok(api.get("/users/me/two-factor"))["enabled"] is True
    done = api.post("/users/me/two-factor/disable", {"password": PASSWORD, "code": code(secret, 1)})
    assert done.status_code == 204
    assert api.ok(api.get("/users/me/two-factor"))["enabled"] is False
    assert not RecoveryCode.objects.filter(user__username="dave").exists()


def test_site_administrators_must_enrol_when_the_site_says_so(
    settings: Any, make_user: Callable[..., User], api_for: Callable[..., Api]
) -> None:
    root = make_user("root", admin=True)
    make_user("plain")
    warnings = admin_warnings()
    assert len(warnings) == 1 and "root" in warnings[0].msg

    settings.SINFONIA_REQUIRE_2FA_FOR_ADMINS = True
    client = portal(root)
    for path in ("/", "/dashboard/", "/users/"):
        assert client.get(path)["Location"] == "/profile/#two-factor", path
    page = client.get("/profile/").content.decode()
    assert 'id="two-factor-required"' in page
    refused = session_login(portal(), "root", PASSWORD)
    assert (refused.status_code, refused.json()["code"]) == (403, "two_factor_required")
    # other users are not concerned
    assert portal(User.objects.get(username="plain")).get("/dashboard/").status_code == 200

    secret, _ = enrol(api_for(root))
    assert client.get("/dashboard/").status_code == 200
    assert session_login(portal(), "root", PASSWORD, code(secret, 1)).status_code == 200
    assert not admin_warnings()


def test_a_site_administrator_resets_a_lost_phone_from_the_console(
    capsys: pytest.CaptureFixture[str],
    make_user: Callable[..., User],
    api_for: Callable[..., Api],
) -> None:
    olga = make_user("olga")
    enrol(api_for(olga))
    assert session_login(portal(), "olga", PASSWORD).json()["code"] == "otp_required"
    assert main(["user", "reset-2fa", "olga"]) == 0
    assert capsys.readouterr().out == "olga: two-factor log-in switched off\n"
    assert session_login(portal(), "olga", PASSWORD).status_code == 200
    assert AuditEvent.objects.filter(action="twofactor.reset", detail__target="olga").exists()
    assert main(["user", "reset-2fa", "olga"]) == 0
    assert capsys.readouterr().out == "olga: two-factor log-in was off\n"


def test_a_site_administrator_resets_two_factor_through_the_api(
    make_user: Callable[..., User], api_for: Callable[..., Api], admin_api: Api
) -> None:
    sam = make_user("sam")
    sam_api = api_for(sam)
    enrol(sam_api)
    refused = sam_api.delete(f"/users/{sam.pk}/two-factor")  # not even their own, codeless
    assert (refused.status_code, refused.json()["code"]) == (403, "not_site_admin")
    assert admin_api.delete(f"/users/{sam.pk}/two-factor").status_code == 204
    assert sam_api.ok(sam_api.get("/users/me/two-factor"))["enabled"] is False
    assert AuditEvent.objects.filter(action="twofactor.reset", username="root").exists()


def test_seeds_are_sealed_in_the_database_and_survive_a_key_rotation(
    make_user: Callable[..., User], api_for: Callable[[User], Api], settings: Any
) -> None:
    from sinfonia.accounts.models import TwoFactor

    carol = make_user("carol")
    secret, recovery = enrol(api_for(carol))
    stored = TwoFactor.objects.get(user=carol).secret
    assert secret not in stored and stored.startswith("gcm1:")  # a database copy hides it

    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    settings.SECRET_KEY_FALLBACKS = []  # the former key is gone: a right code cannot be checked
    assert session_login(portal(), "carol", PASSWORD, code(secret, 1)).status_code == 401
    settings.SECRET_KEY_FALLBACKS = [old]  # rotation: the former key still opens the seed
    assert session_login(portal(), "carol", PASSWORD, code(secret, 1)).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []  # and without it, a recovery code still lets them in
    assert session_login(portal(), "carol", PASSWORD, recovery[0]).status_code == 200


def test_seeds_written_before_sealing_are_sealed_by_the_migration(
    make_user: Callable[..., User],
) -> None:
    from importlib import import_module

    from django.apps import apps

    from sinfonia.accounts import sealed
    from sinfonia.accounts.models import TwoFactor

    migration = import_module("sinfonia.accounts.migrations.0005_seal_two_factor_secrets")
    row = TwoFactor.objects.create(user=make_user("dave"), secret="JBSWY3DPEHPK3PXP")
    migration.seal_all(apps, None)
    row.refresh_from_db()
    assert row.secret.startswith(sealed.PREFIX)
    assert sealed.unseal(row.secret, "totp") == "JBSWY3DPEHPK3PXP"
    migration.unseal_all(apps, None)
    row.refresh_from_db()
    assert row.secret == "JBSWY3DPEHPK3PXP"
