"""Site administrators manage accounts, and users manage groups, in the portal (Django test
client): who may do what, and that each form reaches the account and group services."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from sinfonia.accounts.models import Group, Membership, Role, User
from sinfonia.accounts.services import groups
from sinfonia.audit.models import AuditEvent
from sinfonia.core.context import Actor
from tests.web.test_views import XSS, browser

pytestmark = pytest.mark.django_db


def alerts(body: str) -> str:
    return " ".join(re.findall(r'role="alert">\s*(.*?)<button', body, re.S))


def test_site_admin_creates_an_account_with_a_password_shown_once(admin: User) -> None:
    client = browser(admin)
    body = client.get("/users/").content.decode()
    assert 'id="btn-new-user"' in body and 'id="dlg-new-user"' in body
    response = client.post(
        "/users/",
        {"username": "carol", "first_name": "Carol", "email": "c@example.org", "site_admin": ""},
    )
    body = response.content.decode()
    assert response.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', body)
    assert password is not None
    carol = User.objects.get(username="carol")
    assert carol.check_password(password.group(1)) and not carol.is_superuser
    assert carol.email == "c@example.org" and carol.first_name == "Carol"
    again = client.get("/users/").content.decode()
    assert password.group(1) not in again and 'id="new-password"' not in again
    taken = client.post("/users/", {"username": "carol"}, follow=True).content.decode()
    assert "is taken" in alerts(taken)
    bad = client.post("/users/", {"username": "has space"}, follow=True).content.decode()
    assert "no spaces" in alerts(bad)


def test_ordinary_users_cannot_manage_accounts(admin: User, make_user: Callable[..., User]) -> None:
    plain = make_user("plain")
    client = browser(plain)
    body = client.get("/users/").content.decode()
    assert 'id="btn-new-user"' not in body and f'href="/users/{admin.id}/"' not in body
    assert client.post("/users/", {"username": "mallory"}).status_code == 403
    assert not User.objects.filter(username="mallory").exists()
    assert client.get(f"/users/{admin.id}/").status_code == 403
    for action in ("deactivate", "revoke-admin", "reset-password"):
        assert client.post(f"/users/{admin.id}/", {"action": action}).status_code == 403
    admin.refresh_from_db()
    assert admin.is_active and admin.is_superuser


def test_site_admin_edits_deactivates_promotes_and_resets(
    admin: User, make_user: Callable[..., User]
) -> None:
    dave = make_user("dave")
    client = browser(admin)
    page = f"/users/{dave.id}/"
    client.post(page, {"action": "details", "first_name": "Dave", "last_name": XSS, "email": ""})
    dave.refresh_from_db()
    assert (dave.first_name, dave.last_name) == ("Dave", XSS)
    body = client.get(page).content.decode()
    assert "<script>alert" not in body and 'id="user-deactivate"' in body
    client.post(page, {"action": "deactivate"})
    dave.refresh_from_db()
    assert not dave.is_active
    listed = client.get("/users/").content.decode()
    assert "deactivated" in listed  # site admins still see the account
    assert 'id="user-activate"' in client.get(page).content.decode()
    client.post(page, {"action": "activate"})
    client.post(page, {"action": "grant-admin"})
    dave.refresh_from_db()
    assert dave.is_active and dave.is_superuser
    client.post(page, {"action": "revoke-admin"})
    dave.refresh_from_db()
    assert not dave.is_superuser
    reset = client.post(page, {"action": "reset-password"}).content.decode()
    password = re.search(r'id="new-password">([^<]+)<', reset)
    assert password is not None
    dave.refresh_from_db()
    assert dave.check_password(password.group(1))
    kinds = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"user.update", "user.password"} <= kinds


def test_site_admin_cannot_lock_themselves_out(admin: User) -> None:
    client = browser(admin)
    page = f"/users/{admin.id}/"
    body = client.get(page).content.decode()
    assert re.search(r'id="user-deactivate" disabled', body)
    for action in ("deactivate", "revoke-admin"):
        answer = client.post(page, {"action": action}, follow=True).content.decode()
        assert "You may not deactivate your own account" in alerts(answer)
    admin.refresh_from_db()
    assert admin.is_active and admin.is_superuser


def test_any_user_creates_a_group_and_administers_it(make_user: Callable[..., User]) -> None:
    erin = make_user("erin")
    client = browser(erin)
    assert 'id="btn-new-group"' in client.get("/groups/").content.decode()
    response = client.post(
        "/groups/", {"name": "Dosimetry", "description": "WP3 people", "public": "1"}
    )
    group = Group.objects.get(name="Dosimetry")
    assert response.status_code == 302 and response["Location"] == f"/groups/{group.id}/"
    assert group.public and group.description == "WP3 people"
    assert Membership.objects.get(group=group, user=erin).role == Role.ADMIN
    private = client.post("/groups/", {"name": "Secret circle"})  # switch off: private
    assert private.status_code == 302
    assert not Group.objects.get(name="Secret circle").public
    taken = client.post("/groups/", {"name": "dosimetry"}, follow=True).content.decode()
    assert "exists" in alerts(taken)


def test_group_admins_edit_and_delete_their_group_others_cannot(
    make_user: Callable[..., User],
) -> None:
    owner, member, outsider = make_user("owner"), make_user("member"), make_user("outsider")
    group = groups.create_group(Actor(user=owner, channel="web"), "Imaging", public=True)
    groups.set_member(Actor(user=owner, channel="web"), group, member, Role.MEMBER)
    page = f"/groups/{group.id}/"
    for user in (member, outsider):
        client = browser(user)
        assert 'id="btn-edit-group"' not in client.get(page).content.decode()
        assert client.post(page, {"action": "edit", "name": "Hijacked"}).status_code == 403
        assert client.post(page, {"action": "delete"}).status_code == 403
    group.refresh_from_db()
    assert group.name == "Imaging"
    client = browser(owner)
    assert 'id="btn-edit-group"' in client.get(page).content.decode()
    client.post(page, {"action": "edit", "name": "Imaging WP2", "description": XSS})
    group.refresh_from_db()
    assert (group.name, group.description, group.public) == ("Imaging WP2", XSS, False)
    body = browser(member).get(page).content.decode()
    assert "<script>alert" not in body and "private" in body
    assert browser(outsider).get(page).status_code == 404  # private now: hidden
    response = client.post(page, {"action": "delete"})
    assert response.status_code == 302 and response["Location"] == "/groups/"
    assert not Group.objects.filter(pk=group.pk).exists()


def test_site_admin_manages_any_group(admin: User, make_user: Callable[..., User]) -> None:
    owner = make_user("owner")
    group = groups.create_group(Actor(user=owner, channel="web"), "Theirs", public=False)
    client = browser(admin)
    assert 'id="btn-delete-group"' in client.get(f"/groups/{group.id}/").content.decode()
    assert client.post(f"/groups/{group.id}/", {"action": "delete"}).status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()
