"""Sign-in against a real OpenLDAP directory through the portal and the REST API (Django's test
client); group mirroring, site administrators from a group, locked and local accounts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ldap
import pytest
from django.test import Client

from sinfonia.accounts.directory import sync as sync_directory
from sinfonia.accounts.models import Group, Membership, Role, User
from sinfonia.accounts.services import apikeys, groups, users
from sinfonia.audit.models import AuditEvent
from sinfonia.cli import main
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound, PermissionDenied
from sinfonia.dicom.services import remote_aes
from sinfonia.support.services import pages
from tests.accounts.conftest import PASSWORD, configure
from tests.accounts.ldap_server import Directory
from tests.accounts.logins import code, enrol, session_login
from tests.conftest import Api

SYSTEM = Actor.local_system()


def portal_login(username: str, password: str = PASSWORD) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    client.signed_in = response.status_code == 302  # type: ignore[attr-defined]
    return client


def api_login(username: str, password: str = PASSWORD) -> tuple[Client, Any]:
    client = Client()
    response = client.post(
        "/api/v1/session",
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
    )
    return client, response


def memberships(user: User) -> dict[str, str]:
    return {m.group.name: m.role for m in Membership.objects.filter(user=user)}


def test_first_portal_sign_in_creates_the_account_like_a_local_one(
    ldap_on: Directory, uid: str
) -> None:
    ldap_on.add_person(uid, PASSWORD, given="Grace", surname="Hopper", mail=f"{uid}@hospital.org")
    assert not User.objects.filter(username=uid).exists()

    client = portal_login(uid)
    assert client.signed_in  # type: ignore[attr-defined]
    assert client.get("/api/v1/users/me").json()["username"] == uid  # the portal's session

    user = User.objects.get(username=uid)
    assert (user.first_name, user.last_name, user.email) == (
        "Grace",
        "Hopper",
        f"{uid}@hospital.org",
    )
    assert not user.has_usable_password()  # the directory keeps the password
    assert not user.is_superuser
    assert user.home_collection.name == f"~{uid}"
    event = AuditEvent.objects.get(action="user.create", detail__target=uid)
    assert event.channel == "ldap"
    assert event.detail["source"] == "ldap"

    # the second sign-in finds the account and refreshes it from the directory
    conn = ldap_on.connect()
    conn.modify_s(f"uid={uid},ou=people,dc=sinfonia,dc=test", [(2, "sn", [b"Hopper-Murray"])])
    conn.unbind_s()
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    assert User.objects.filter(username__iexact=uid).count() == 1
    assert User.objects.get(username=uid).last_name == "Hopper-Murray"
    assert AuditEvent.objects.filter(action="user.create", detail__target=uid).count() == 1


def test_rest_session_sign_in(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD)
    client, response = api_login(uid)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["username"] == uid
    me = client.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["username"] == uid

    _, wrong = api_login(uid, "not-the-Password-1")
    assert wrong.status_code == 401
    _, unknown = api_login(f"x{uid}")
    assert unknown.status_code == 401


def test_wrong_password_and_unknown_person_are_refused(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD)
    assert not portal_login(uid, "not-the-Password-1").signed_in  # type: ignore[attr-defined]
    assert not portal_login(f"x{uid}").signed_in  # type: ignore[attr-defined]
    assert not User.objects.filter(username__in=[uid, f"x{uid}"]).exists()


def test_locked_account_is_refused_in_portal_and_api(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD, groups=["radiology"])
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]

    ldap_on.lock(uid)
    try:
        assert not portal_login(uid).signed_in  # type: ignore[attr-defined]
        _, response = api_login(uid)
        assert response.status_code == 401
    finally:
        ldap_on.unlock(uid)
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]


def test_locked_account_never_signed_in_gets_no_account(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD)
    ldap_on.lock(uid)
    _, response = api_login(uid)
    assert response.status_code == 401
    assert not User.objects.filter(username=uid).exists()


def test_locally_deactivated_directory_account_is_refused(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD)
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    user = User.objects.get(username=uid)
    users.update_user(SYSTEM, user, is_active=False)
    assert not portal_login(uid).signed_in  # type: ignore[attr-defined]
    _, response = api_login(uid)
    assert response.status_code == 401


def test_groups_are_mirrored_and_left_at_next_sign_in(ldap_on: Directory, uid: str) -> None:
    local = groups.create_group(SYSTEM, f"local-{uid}")
    ldap_on.add_person(uid, PASSWORD, groups=["radiology", "oncology"])
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    user = User.objects.get(username=uid)
    assert memberships(user) == {"oncology": Role.MEMBER, "radiology": Role.MEMBER}
    radiology = Group.objects.get(name="radiology")
    assert not radiology.public  # mirrored groups are private: their members see them
    groups.set_member(SYSTEM, local, user)  # a membership made in Sinfonia

    ldap_on.leave(uid, "oncology")
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    assert memberships(user) == {"radiology": Role.MEMBER, f"local-{uid}": Role.MEMBER}

    ldap_on.join(uid, "oncology")
    _, response = api_login(uid)
    assert response.status_code == 200
    assert set(memberships(user)) == {"radiology", "oncology", f"local-{uid}"}
    assert AuditEvent.objects.filter(action="group.leave", detail__user=uid).count() == 1


def test_role_given_in_sinfonia_survives_sign_in(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD, groups=["radiology"])
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    user = User.objects.get(username=uid)
    groups.set_member(SYSTEM, Group.objects.get(name="radiology"), user, Role.ADMIN)
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    assert memberships(user) == {"radiology": Role.ADMIN}


def test_admin_group_makes_site_administrators(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD, groups=["sinfonia-admins"])
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    user = User.objects.get(username=uid)
    assert user.is_superuser
    assert "sinfonia-admins" not in memberships(user)  # not a mirrored group

    ldap_on.leave(uid, "sinfonia-admins")
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    user.refresh_from_db()
    assert not user.is_superuser
    assert AuditEvent.objects.filter(action="user.update", detail__target=uid).count() == 1


def test_local_account_is_not_taken_over_by_a_directory_namesake(
    ldap_on: Directory, uid: str, make_user: Callable[..., User]
) -> None:
    make_user(uid)  # password a-Long-pass-123
    ldap_on.add_person(uid, PASSWORD, groups=["radiology"])
    assert not portal_login(uid).signed_in  # type: ignore[attr-defined]
    assert portal_login(uid, "a-Long-pass-123").signed_in  # type: ignore[attr-defined]
    assert memberships(User.objects.get(username=uid)) == {}


def test_local_accounts_keep_working_beside_the_directory(
    ldap_on: Directory, make_user: Callable[..., User], uid: str
) -> None:
    make_user(uid)
    _, response = api_login(uid, "a-Long-pass-123")
    assert response.status_code == 200


def test_person_named_before_first_sign_in_for_a_dicom_mapping(
    ldap_on: Directory, uid: str
) -> None:
    """An administrator maps an AE title to a directory person who has never signed in: the
    account is made from the directory then (``users.find_user``, used by the CLI and portal)."""
    ldap_on.add_person(uid, PASSWORD, given="Marie", surname="Curie", groups=["oncology"])
    user = users.find_user(uid)
    assert (user.first_name, user.has_usable_password()) == ("Marie", False)
    assert memberships(user) == {"oncology": Role.MEMBER}
    remote_aes.add_remote_ae(SYSTEM, "MODALITY1", user=user)
    remote = remote_aes.calling_ae("MODALITY1")
    assert remote is not None and remote.user == user
    # later sign-ins find the same account
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]
    assert User.objects.filter(username=uid).count() == 1

    with pytest.raises(NotFound):
        users.find_user(f"x{uid}")  # nobody in the directory either


@pytest.mark.parametrize(
    ("overrides", "signed_in"),
    [
        ({}, True),  # StartTLS, the certificate checked against the test CA
        ({"SINFONIA_LDAP_STARTTLS": "0"}, False),  # the server refuses a plain bind
        ({"SINFONIA_LDAP_CA_FILE": ""}, False),  # a certificate the system CAs do not know
    ],
)
def test_starttls(
    tls_directory: Directory,
    settings: Any,
    db: None,
    uid: str,
    overrides: dict[str, str],
    signed_in: bool,
) -> None:
    configure(settings, tls_directory, **overrides)
    tls_directory.add_person(uid, PASSWORD, groups=["radiology"])
    _, response = api_login(uid)
    assert response.status_code == (200 if signed_in else 401)
    assert User.objects.filter(username=uid).exists() == signed_in


def test_directory_password_is_not_changed_in_sinfonia(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD)
    client, response = api_login(uid)
    user_id = response.json()["user"]["id"]
    csrf = response.json()["csrf_token"]
    change = client.put(
        f"/api/v1/users/{user_id}/password",
        json.dumps({"old_password": PASSWORD, "new_password": "An0ther-long-pass"}),
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert change.status_code == 400, change.content
    assert change.json()["code"] == "directory_account"
    with pytest.raises(Invalid):  # nor by a site administrator
        users.set_password(SYSTEM, User.objects.get(username=uid), "An0ther-long-pass")
    assert portal_login(uid).signed_in  # type: ignore[attr-defined]


def test_directory_name_that_is_no_valid_user_name_is_refused(
    ldap_on: Directory, uid: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"{uid} smith"  # a space: fine in LDAP, not in a Sinfonia user name
    ldap_on.add_person(name, PASSWORD)
    _, response = api_login(name)
    assert response.status_code == 401
    assert not User.objects.filter(username__startswith=uid).exists()
    assert "A user name is" in caplog.text


def test_portal_profile_sends_directory_accounts_to_the_directory(
    ldap_on: Directory, uid: str, make_user: Callable[..., User]
) -> None:
    ldap_on.add_person(uid, PASSWORD)
    client = portal_login(uid)
    user = User.objects.get(username=uid)
    pages.accept_policy(Actor(user=user, channel="web"))
    page = client.get("/profile/").content.decode()
    assert 'id="directory-account"' in page
    assert 'value="password"' not in page  # no password form

    local = make_user(f"l{uid}")
    pages.accept_policy(Actor(user=local, channel="web"))
    page = portal_login(local.username, "a-Long-pass-123").get("/profile/").content.decode()
    assert 'id="directory-account"' not in page
    assert 'value="password"' in page


def test_sync_deactivates_accounts_locked_or_gone(
    ldap_on: Directory, uid: str, make_user: Callable[..., User], capsys: Any
) -> None:
    """API keys do not pass through the directory: `ldap sync` (and `serve`, periodically)
    deactivates the accounts a directory no longer vouches for, which stops them too."""
    names = {kind: f"{uid}{kind}" for kind in ("locked", "gone", "lockout", "fine")}
    keys = {}
    for name in names.values():
        ldap_on.add_person(name, PASSWORD)
        keys[name] = apikeys.create_api_key(SYSTEM, users.find_user(name), "k")[1]
    local = make_user(f"l{uid}")
    ldap_on.lock(names["locked"])  # by an administrator
    ldap_on.lock(names["lockout"], when="20260101000000Z")  # after failed binds: expires
    ldap_on.remove(names["gone"])

    assert main(["ldap", "sync"]) == 0
    out = capsys.readouterr().out
    assert "checked 4 directory account(s)" in out
    assert f"deactivated {names['locked']}: locked in the directory" in out
    assert f"deactivated {names['gone']}: not in the directory" in out
    active = dict(
        User.objects.filter(username__startswith=uid).values_list("username", "is_active")
    )
    assert active == {
        names["locked"]: False,
        names["gone"]: False,
        names["lockout"]: True,
        names["fine"]: True,
    }
    assert User.objects.get(pk=local.pk).is_active
    for name, key in keys.items():
        me = Client(headers={"Authorization": f"Bearer {key}"}).get("/api/v1/users/me")
        assert me.status_code == (200 if active[name] else 401), name

    ldap_on.unlock(names["locked"])
    assert sync_directory(SYSTEM).deactivated == {}  # nothing more; nobody reactivated
    assert not User.objects.get(username=names["locked"]).is_active


def test_sync_with_the_directory_down_deactivates_nobody(
    directory: Directory, settings: Any, db: None, uid: str
) -> None:
    configure(settings, directory)
    directory.add_person(uid, PASSWORD)
    users.find_user(uid)
    configure(settings, directory, SINFONIA_LDAP_URL="ldap://127.0.0.1:1")
    with pytest.raises(ldap.LDAPError):
        sync_directory(SYSTEM)
    assert User.objects.get(username=uid).is_active
    assert main(["ldap", "sync"]) == 1


def test_sync_is_for_site_administrators(
    ldap_on: Directory, make_user: Callable[..., User]
) -> None:
    with pytest.raises(PermissionDenied):
        sync_directory(Actor(user=make_user("someone"), channel="cli"))


def test_session_ends_when_the_account_is_deactivated(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD)
    client = portal_login(uid)
    assert client.get("/api/v1/users/me").status_code == 200
    ldap_on.lock(uid)
    try:
        assert sync_directory(SYSTEM).deactivated == {uid: "locked in the directory"}
    finally:
        ldap_on.unlock(uid)
    response = client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.wsgi_request.user.is_anonymous  # the session no longer names the user


def test_groups_that_cannot_be_read_refuse_the_sign_in(
    directory: Directory, settings: Any, db: None, uid: str
) -> None:
    """Not a server error, and no sign-in with memberships that may be stale."""
    directory.add_person(uid, PASSWORD, groups=["radiology"])
    nowhere = "ou=nowhere,dc=sinfonia,dc=test"  # searching it fails: noSuchObject
    configure(settings, directory, SINFONIA_LDAP_GROUP_BASE=nowhere)
    _, response = api_login(uid)
    assert response.status_code == 401
    assert not User.objects.filter(username=uid).exists()

    configure(settings, directory)
    assert api_login(uid)[1].status_code == 200
    configure(settings, directory, SINFONIA_LDAP_GROUP_BASE=nowhere)
    assert api_login(uid)[1].status_code == 401
    assert memberships(User.objects.get(username=uid)) == {"radiology": Role.MEMBER}  # as was


def test_two_factor_log_in_for_a_directory_account(ldap_on: Directory, uid: str) -> None:
    ldap_on.add_person(uid, PASSWORD)
    assert api_login(uid)[1].status_code == 200
    secret, _ = enrol(Api(User.objects.get(username=uid)))

    _, without = api_login(uid)
    assert without.status_code == 401 and without.json()["code"] == "otp_required"
    with_code = session_login(Client(), uid, PASSWORD, otp=code(secret, 1))
    assert with_code.status_code == 200, with_code.content
    wrong_password = session_login(Client(), uid, "not-the-Password-1", otp=code(secret, 2))
    assert wrong_password.status_code == 401
