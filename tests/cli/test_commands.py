"""The administrative `sinfonia` commands, run in-process through `sinfonia.cli.main`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from sinfonia.accounts.models import ApiKey, Group, Membership, Role, User
from sinfonia.cli import main
from sinfonia.resources.models import Kind, Node

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-pass-123"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``sinfonia ARGV...``: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, ""), (argv, out, err)
    return out


def sign_in(username: str, password: str) -> Any:
    return Client().post(
        "/api/v1/session",
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
    )


def printed_password(out: str) -> str:
    match = re.search(r"^password: (\S+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


# --- users -----------------------------------------------------------------------------------


def test_user_create_prints_a_generated_password_that_signs_in(capsys):
    out = ok(capsys, "user", "create", "alice")
    assert out.splitlines()[0] == "created user alice"
    password = printed_password(out)
    assert len(password) >= 16

    user = User.objects.get(username="alice")
    assert not user.is_superuser
    assert Node.objects.filter(home_of=user, kind=Kind.COLLECTION).exists()  # "My folder"
    response = sign_in("alice", password)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["username"] == "alice"
    assert sign_in("alice", password + "x").status_code == 401


def test_user_create_with_password_and_admin(capsys):
    out = ok(capsys, "user", "create", "Ærøskøbing", "--admin", "--password", PASSWORD)
    assert out == "created user Ærøskøbing (site administrator)\n"  # no password: it was given
    user = User.objects.get(username="Ærøskøbing")
    assert user.is_superuser
    assert user.check_password(PASSWORD)
    response = sign_in("Ærøskøbing", PASSWORD)
    assert response.status_code == 200
    assert response.json()["user"]["site_admin"] is True


def test_user_create_with_email(capsys):
    ok(capsys, "user", "create", "bob", "--password", PASSWORD, "--email", "bob@example.org")
    assert User.objects.get(username="bob").email == "bob@example.org"


def test_user_list(capsys):
    ok(capsys, "user", "create", "carol", "--password", PASSWORD, "--email", "c@example.org")
    ok(capsys, "user", "create", "alice", "--password", PASSWORD, "--admin")
    User.objects.filter(username="carol").update(is_active=False)
    out = ok(capsys, "user", "list")
    assert out.splitlines() == ["alice\t\tadmin", "carol\tc@example.org\tinactive"]


def test_user_list_empty(capsys):
    assert ok(capsys, "user", "list") == ""


def test_set_password_given(capsys):
    ok(capsys, "user", "create", "dave", "--password", PASSWORD)
    new = "another-Long-pass-456"
    assert ok(capsys, "user", "set-password", "dave", "--password", new) == ""
    assert sign_in("dave", new).status_code == 200
    assert sign_in("dave", PASSWORD).status_code == 401


def test_set_password_generated(capsys):
    ok(capsys, "user", "create", "dave", "--password", PASSWORD)
    password = printed_password(ok(capsys, "user", "set-password", "dave"))
    assert password != PASSWORD
    assert sign_in("dave", password).status_code == 200
    assert sign_in("dave", PASSWORD).status_code == 401


# --- groups ----------------------------------------------------------------------------------


def _roles(group: str) -> dict[str, str]:
    return dict(Membership.objects.filter(group__name=group).values_list("user__username", "role"))


def test_group_create_add_remove_list(capsys):
    for name in ("alice", "bob", "carol"):
        ok(capsys, "user", "create", name, "--password", PASSWORD)

    out = ok(capsys, "group", "create", "WP2 Imaging", "--admin", "alice", "--description", "x")
    assert out == "created group WP2 Imaging (public)\n"
    group = Group.objects.get(name="WP2 Imaging")
    assert (group.public, group.description) == (True, "x")
    assert _roles("WP2 Imaging") == {"alice": Role.ADMIN}

    assert ok(capsys, "group", "add", "WP2 Imaging", "bob") == "bob is member of WP2 Imaging\n"
    out = ok(capsys, "group", "add", "WP2 Imaging", "carol", "--role", "admin")
    assert out == "carol is admin of WP2 Imaging\n"
    assert _roles("WP2 Imaging") == {"alice": Role.ADMIN, "bob": Role.MEMBER, "carol": Role.ADMIN}

    # changing a role: bob up, alice down (carol stays an administrator)
    ok(capsys, "group", "add", "WP2 Imaging", "bob", "--role", "admin")
    ok(capsys, "group", "add", "WP2 Imaging", "alice", "--role", "member")
    assert _roles("WP2 Imaging") == {"alice": Role.MEMBER, "bob": Role.ADMIN, "carol": Role.ADMIN}

    assert ok(capsys, "group", "remove", "WP2 Imaging", "alice") == "alice left WP2 Imaging\n"
    assert _roles("WP2 Imaging") == {"bob": Role.ADMIN, "carol": Role.ADMIN}

    out = ok(capsys, "group", "create", "Radiologen", "--private")
    assert out == "created group Radiologen (private)\n"
    ok(capsys, "group", "add", "Radiologen", "alice")
    lines = sorted(ok(capsys, "group", "list").splitlines())
    assert lines == [
        "Radiologen\tprivate\talice",
        "WP2 Imaging\tpublic\tbob (admin), carol (admin)",
    ]


def test_group_keeps_its_last_administrator(capsys):
    ok(capsys, "user", "create", "alice", "--password", PASSWORD)
    ok(capsys, "group", "create", "WP1", "--admin", "alice")
    code, out, err = run(capsys, "group", "remove", "WP1", "alice")
    assert (code, out) == (1, "")
    assert err == "sinfonia: alice is the last administrator of 'WP1'; name another first.\n"
    code, _, err = run(capsys, "group", "add", "WP1", "alice", "--role", "member")
    assert code == 1
    assert "last administrator" in err
    assert _roles("WP1") == {"alice": Role.ADMIN}


def test_group_remove_someone_not_in_it(capsys):
    ok(capsys, "user", "create", "alice", "--password", PASSWORD)
    ok(capsys, "group", "create", "WP1")
    code, out, err = run(capsys, "group", "remove", "WP1", "alice")
    assert (code, out, err) == (1, "", "sinfonia: alice is not in 'WP1'.\n")


# --- API keys --------------------------------------------------------------------------------


def test_apikey_authenticates_against_the_api(capsys):
    ok(capsys, "user", "create", "alice", "--password", PASSWORD)
    out = ok(capsys, "apikey", "create", "alice", "--name", "laptop")
    key = out.strip()
    assert out == key + "\n"  # only the key: scripts capture it with $(...)
    assert key.startswith("sfk_")
    assert ApiKey.objects.get(user__username="alice").name == "laptop"

    response = Client(headers={"Authorization": f"Bearer {key}"}).get("/api/v1/users/me")
    assert response.status_code == 200, response.content
    assert response.json()["username"] == "alice"

    for wrong in (key[:-1], key + "x", "sfk_nothing_here"):
        response = Client(headers={"Authorization": f"Bearer {wrong}"}).get("/api/v1/users/me")
        assert response.status_code == 401, wrong


def test_each_apikey_is_new(capsys):
    ok(capsys, "user", "create", "alice", "--password", PASSWORD)
    keys = {ok(capsys, "apikey", "create", "alice").strip() for _ in range(3)}
    assert len(keys) == 3
    assert ApiKey.objects.filter(user__username="alice").count() == 3


# --- collections -----------------------------------------------------------------------------


def test_collection_create_and_list(capsys):
    out = ok(capsys, "collection", "create", "Ελληνικά 患者", "--description", "CT")
    node = Node.objects.get(parent=None, name="Ελληνικά 患者")
    assert out == f"created collection /Ελληνικά 患者 (id {node.id})\n"
    assert (node.description, node.public) == ("CT", False)
    out = ok(capsys, "collection", "create", "Open", "--public")
    open_ = Node.objects.get(parent=None, name="Open")
    assert open_.public

    ok(capsys, "user", "create", "alice", "--password", PASSWORD)  # has a personal collection
    lines = ok(capsys, "collection", "list").splitlines()
    assert sorted(lines) == sorted([f"/Ελληνικά 患者\t{node.id}", f"/Open\t{open_.id}"])


def test_collection_list_empty(capsys):
    assert ok(capsys, "collection", "list") == ""


def test_collection_made_by_cli_is_visible_to_site_admins_only(capsys, make_user, api_for):
    ok(capsys, "collection", "create", "Study")
    admin_api = api_for(make_user("boss", admin=True))
    found = admin_api.client.get("/api/v1/resource/lookup", {"path": "/Study"})
    assert admin_api.ok(found)["kind"] == "collection"
    user_api = api_for(make_user("alice"))
    assert user_api.client.get("/api/v1/resource/lookup", {"path": "/Study"}).status_code == 404


# --- bad input -------------------------------------------------------------------------------


@pytest.fixture
def alice(capsys):
    ok(capsys, "user", "create", "alice", "--password", PASSWORD)
    ok(capsys, "group", "create", "WP1")
    ok(capsys, "collection", "create", "Study")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["user", "create", "alice"], "The user name 'alice' is taken."),
        (["user", "create", "ALICE"], "The user name 'ALICE' is taken."),
        (["user", "create", "bad name"], "A user name is 1-150 letters"),
        (["user", "create", "a/b"], "A user name is 1-150 letters"),
        (["user", "create", ""], "A user name is 1-150 letters"),
        (["user", "create", "bob", "--password", "short"], "This password is too short."),
        (["user", "create", "bob", "--password", "password123"], "too common"),
        (["user", "set-password", "nobody"], "No user named 'nobody'."),
        (["user", "set-password", "alice", "--password", "x"], "This password is too short."),
        (["group", "create", "wp1"], "A group named 'wp1' exists."),
        (["group", "create", "a/b"], "must not contain '/'"),
        (["group", "create", " "], "must not be empty"),
        (["group", "create", "G", "--admin", "nobody"], "No user named 'nobody'."),
        (["group", "add", "WP1", "nobody"], "No user named 'nobody'."),
        (["group", "add", "Nope", "alice"], "No group named 'Nope'"),
        (["group", "remove", "WP1", "nobody"], "No user named 'nobody'."),
        (["apikey", "create", "nobody"], "No user named 'nobody'."),
        (["collection", "create", "Study"], "A collection named 'Study' already exists."),
        (["collection", "create", "a/b"], "must not contain '/'"),
        (["collection", "create", ".."], "must not be '.' or '..'"),
        (["collection", "create", "tab\there"], "control characters"),
        (["collection", "create", "~alice"], "reserved for personal folders"),
        (["collection", "create", " padded "], "must not start or end with spaces"),
        (["collection", "create", "x" * 256], "at most 255 are allowed"),
    ],
)
def test_bad_input_is_refused_with_exit_code_1(capsys, alice, argv, message):
    before = (
        User.objects.count(),
        Group.objects.count(),
        Membership.objects.count(),
        Node.objects.count(),
        ApiKey.objects.count(),
        list(User.objects.values_list("password", flat=True).order_by("pk")),
    )
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.startswith("sinfonia: "), err
    assert message in err
    assert err.count("\n") == 1, "one line, no traceback"
    after = (
        User.objects.count(),
        Group.objects.count(),
        Membership.objects.count(),
        Node.objects.count(),
        ApiKey.objects.count(),
        list(User.objects.values_list("password", flat=True).order_by("pk")),
    )
    assert after == before, "a refused command changes nothing"


def test_private_group_is_found_by_the_operator(capsys):
    ok(capsys, "group", "create", "Secret", "--private")
    ok(capsys, "user", "create", "alice", "--password", PASSWORD)
    assert ok(capsys, "group", "add", "Secret", "alice") == "alice is member of Secret\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["user"],
        ["user", "create"],
        ["group", "add", "WP1"],
        ["group", "add", "WP1", "alice", "--role", "owner"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: sinfonia")


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["user", "create", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--admin" in out
    assert "--password" in out
