"""The portal's SFTP page through Django's test client: who may reach it, what it shows, and
the REST calls its script makes (import, export, delete) with the portal's session."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sinfonia.accounts.models import User
from sinfonia.core.context import Actor
from sinfonia.resources import selectors
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.services import acl, tree
from sinfonia.sftp import server
from sinfonia.sftp.connection import configured_port
from sinfonia.transfers.services import operations
from tests.sftp.staging_area import home, own_staging_area
from tests.web.test_views import XSS, browser

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sftp_dir(tmp_path: Path, settings: Any) -> None:
    own_staging_area(settings, tmp_path, 1_000_000)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def post_json(client: Client, path: str, body: Any) -> Any:
    return client.post(f"/api/v1{path}", json.dumps(body), content_type="application/json")


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    user = make_user("alice")
    write(home(user) / "scans" / "day1" / "a.dcm", b"A" * 100)
    write(home(user) / "scans" / "day1" / "b.dcm", b"B" * 50)
    write(home(user) / "scans" / "notes.txt", b"notes")
    write(home(user) / "alice-secret.txt", b"secret")
    return user


@pytest.mark.parametrize("path", ["/sftp/", "/sftp/destinations/", "/sftp/default-name/"])
def test_anonymous_visitors_are_sent_to_log_in(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_page_lists_the_staging_area_like_a_folder(alice: User) -> None:
    client = browser(alice)
    body = client.get("/sftp/").content.decode()
    assert 'data-path="scans"' in body and 'data-path="alice-secret.txt"' in body
    assert body.index('data-path="scans"') < body.index('data-path="alice-secret.txt"')
    assert "161\xa0bytes of" in body  # usage over the quota
    inner = client.get("/sftp/", {"path": "scans"}).content.decode()
    assert 'data-path="scans/day1"' in inner and 'data-path="scans/notes.txt"' in inner
    assert 'id="staging-parent"' in inner
    deeper = client.get("/sftp/", {"path": "scans/day1"}).content.decode()
    assert 'href="/sftp/?path=scans"' in deeper  # breadcrumb back
    assert 'data-path="scans/day1/a.dcm"' in deeper and "100\xa0bytes" in deeper
    paged = client.get("/sftp/", {"path": "scans/day1", "limit": "1"}).content.decode()
    assert "a.dcm" in paged and "b.dcm" not in paged and 'id="staging-next"' in paged


def test_each_user_sees_only_their_own_staging_area(
    alice: User, make_user: Callable[..., User]
) -> None:
    bob = make_user("bob")
    client = browser(bob)
    body = client.get("/sftp/").content.decode()
    assert "alice-secret" not in body and 'id="staging-empty"' in body
    assert client.get("/sftp/", {"path": "../alice"}).status_code == 400
    assert client.get("/sftp/", {"path": "scans"}).status_code == 404
    assert client.get("/sftp/", {"path": "alice-secret.txt"}).status_code == 404
    # deleting or importing "alice's" paths addresses bob's own (empty) area
    assert post_json(client, "/sftp/delete", {"paths": ["alice-secret.txt"]}).status_code == 404
    assert (home(alice) / "alice-secret.txt").exists()


def test_names_are_rendered_inert(alice: User) -> None:
    write(home(alice) / XSS, b"x")
    body = browser(alice).get("/sftp/").content.decode()
    assert "<script>alert" not in body and "&lt;script&gt;" in body


def test_how_to_connect_shows_host_port_user_and_fingerprint(alice: User) -> None:
    body = browser(alice).get("/sftp/", HTTP_HOST="repo.example.org:8000").content.decode()
    assert '<code class="text-break" id="connect-host">repo.example.org</code>' in body
    assert 'id="connect-user">alice</code>' in body
    assert f'id="connect-fingerprint">{server.fingerprint()}</code>' in body
    assert f"sftp -P {configured_port()} alice@repo.example.org" in body
    for client_name in ("FileZilla", "WinSCP", "Command line", "app password"):
        assert client_name in body


def test_default_names_follow_the_reference_pattern(alice: User) -> None:
    client = browser(alice)
    upload = client.get("/sftp/default-name/").json()["name"]
    download = client.get("/sftp/default-name/", {"kind": "download"}).json()["name"]
    assert re.fullmatch(r"upload_alice_\d{8}_\d{6}[+-]\d{4}", upload), upload
    assert re.fullmatch(r"download_alice_\d{8}_\d{6}[+-]\d{4}", download), download


def test_destination_chooser_offers_what_the_user_may_see_and_write(
    alice: User, admin: User, make_user: Callable[..., User]
) -> None:
    boss = Actor(user=admin, channel="web")
    shared = tree.create_collection(boss, "Shared")
    readable = tree.create_folder(boss, shared, "Readable")
    tree.create_folder(boss, readable, "Inner")
    hidden = tree.create_collection(boss, "Hidden")
    acl.set_acl(boss, shared, [acl.Grant(Level.READ, user=alice)])
    client = browser(alice)
    top = client.get("/sftp/destinations/").content.decode()
    assert "Shared" in top and "Hidden" not in top and "My folder" in top
    inside = client.get("/sftp/destinations/", {"node": shared.id}).content.decode()
    assert "Readable" in inside and 'data-may-write="0"' in inside
    assert 'id="dest-readonly"' in inside
    assert client.get("/sftp/destinations/", {"node": hidden.id}).status_code == 404


def test_import_refused_where_the_user_may_not_write(alice: User, admin: User) -> None:
    boss = Actor(user=admin, channel="web")
    shared = tree.create_collection(boss, "Shared")
    hidden = tree.create_collection(boss, "Hidden")
    acl.set_acl(boss, shared, [acl.Grant(Level.READ, user=alice)])
    client = browser(alice)
    for target in (shared, hidden):
        response = post_json(
            client, "/sftp/import", {"paths": ["scans"], "destination_id": target.id}
        )
        assert response.status_code in (403, 404), response.content
    assert not operations.list_operations(Actor(user=alice, channel="web"))
    assert list(Node.objects.filter(parent=shared)) == []


def test_import_a_tree_into_a_writable_folder(alice: User) -> None:
    a = Actor(user=alice, channel="web")
    collection = tree.create_folder(a, tree.ensure_home(alice), "Mine")
    client = browser(alice)
    response = post_json(
        client,
        "/sftp/import",
        {
            "paths": ["scans", "alice-secret.txt"],
            "destination_id": collection.id,
            "folder_name": "upload_alice_x",
            "remove_after": True,
        },
    )
    assert response.status_code == 202, response.content
    assert operations.run_pending() == 1
    op = client.get(f"/api/v1/operations/{response.json()['id']}").json()
    assert op["status"] == "done" and op["result"]["files"] == 4, op
    base = selectors.path_of(collection)
    folder = selectors.lookup(a, f"{base}/upload_alice_x")
    day1 = selectors.lookup(a, f"{base}/upload_alice_x/scans/day1")
    assert folder.kind == Kind.FOLDER and day1.kind == Kind.FOLDER
    assert not (home(alice) / "scans").exists()  # removed after the import


def test_delete_files_and_trees_from_staging(alice: User) -> None:
    client = browser(alice)
    response = post_json(client, "/sftp/delete", {"paths": ["scans", "scans/notes.txt"]})
    assert response.status_code == 200 and response.json() == {"deleted": 1}
    assert not (home(alice) / "scans").exists() and (home(alice) / "alice-secret.txt").exists()
    assert post_json(client, "/sftp/delete", {"paths": ["", "x"]}).status_code == 400
    assert post_json(client, "/sftp/delete", {"paths": ["alice-secret.txt", "nope"]}).status_code
    assert (home(alice) / "alice-secret.txt").exists()  # nothing removed when one is missing


def test_folder_page_offers_send_to_sftp(alice: User) -> None:
    collection = tree.ensure_home(alice)
    body = browser(alice).get(f"/r/{collection.id}/").content.decode()
    assert 'id="picked-to-sftp"' in body and 'id="dlg-to-sftp"' in body and "web/sftp.js" in body
