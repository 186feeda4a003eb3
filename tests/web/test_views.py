"""Every portal view through Django's test client: who may reach it, what it shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sinfonia.accounts.models import User
from sinfonia.core.context import Actor
from sinfonia.resources.models import Node
from sinfonia.resources.services import files, tree
from sinfonia.support.models import ContactMessage, PolicyAcceptance
from sinfonia.support.services import pages

SYSTEM = Actor.local_system()
XSS = "<script>alert(1)<img src=x onerror=alert(2)>"  # no '/': names may not have one

pytestmark = pytest.mark.django_db


def browser(user: User | None, *, accepted: bool = True) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
        if accepted:
            pages.accept_policy(Actor(user=user, channel="web"))
    return client


@pytest.fixture
def tree_nodes(admin: User) -> dict[str, Node]:
    a = Actor(user=admin, channel="web")
    collection = tree.create_collection(a, "WP2 " + XSS)
    folder = tree.create_folder(a, collection, "CT " + XSS)
    fileset = tree.create_fileset(a, folder, "Series ñ 中文")
    file = files.upload_file(a, fileset, "notes 中文.txt", _stream(b"hello\nworld\n"))
    csv = files.upload_file(a, fileset, "dose.csv", _stream(b"a,b\n1,<b>2</b>\n"))
    return {
        "collection": collection,
        "folder": folder,
        "fileset": fileset,
        "file": file,
        "csv": csv,
    }


def _stream(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


SIGNED_IN_PAGES = [
    "/dashboard/",
    "/my-folder/",
    "/users/",
    "/groups/",
    "/profile/",
    "/trash/",
    "/sftp/",
    "/support/messages/",
]


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    "path",
    ["/", "/login/", "/pages/about/", "/pages/privacy/", "/pages/anonymisation/", "/contact/"],
)
def test_public_pages_answer_anonymous_visitors(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    body = response.content.decode()
    assert "SINFONIA" in body and "grant agreement" in body  # layout with funding notice


def test_tree_pages_refuse_anonymous_and_hide_from_strangers(
    tree_nodes: dict[str, Node], make_user: Callable[..., User]
) -> None:
    stranger = browser(make_user("stranger"))
    for node in tree_nodes.values():
        for path in (f"/r/{node.id}/", f"/r/{node.id}/children/", f"/r/{node.id}/preview/"):
            assert Client().get(path).status_code == 302
            assert stranger.get(path).status_code == 404, path
    assert stranger.get("/r/999999/").status_code == 404


def test_names_are_rendered_inert(admin: User, tree_nodes: dict[str, Node]) -> None:
    client = browser(admin)
    for path in (
        f"/r/{tree_nodes['folder'].id}/",
        f"/r/{tree_nodes['collection'].id}/children/",
        "/dashboard/",
    ):
        body = client.get(path).content.decode()
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert "&lt;script&gt;" in body


def test_contents_list_paginates_and_sorts(admin: User, tree_nodes: dict[str, Node]) -> None:
    a = Actor(user=admin, channel="web")
    folder = tree_nodes["folder"]
    for i in range(25):
        tree.create_folder(a, folder, f"sub {i:02d}")
    client = browser(admin)
    first = client.get(f"/r/{folder.id}/children/?limit=20").content.decode()
    assert "sub 00" in first and "sub 19" in first and "sub 20" not in first
    assert 'id="page-next"' in first
    desc = client.get(f"/r/{folder.id}/children/?limit=20&sort=name&order=desc").content.decode()
    assert "sub 24" in desc
    second = client.get(f"/r/{folder.id}/children/?limit=20&offset=20").content.decode()
    assert "sub 24" in second and "sub 00" not in second


def test_non_latin_names_list_and_preview(admin: User, tree_nodes: dict[str, Node]) -> None:
    client = browser(admin)
    listing = client.get(f"/r/{tree_nodes['fileset'].id}/children/").content.decode()
    assert "notes 中文.txt" in listing
    preview = client.get(f"/r/{tree_nodes['file'].id}/preview/").content.decode()
    assert "hello" in preview and 'id="preview-text"' in preview
    table = client.get(f"/r/{tree_nodes['csv'].id}/preview/").content.decode()
    assert 'id="preview-csv"' in table and "&lt;b&gt;2&lt;/b&gt;" in table
    assert client.get(f"/r/{tree_nodes['file'].id}/").status_code == 302  # a file: its fileset


def test_inline_download_only_for_safe_types(admin: User, tree_nodes: dict[str, Node]) -> None:
    a = Actor(user=admin, channel="web")
    html = files.upload_file(a, tree_nodes["fileset"], "page.html", _stream(b"<script>1</script>"))
    svg = files.upload_file(a, tree_nodes["fileset"], "x.svg", _stream(b"<svg/>"))
    pdf = files.upload_file(a, tree_nodes["fileset"], "doc.pdf", _stream(b"%PDF-1.4\n%%EOF\n"))
    client = browser(admin)
    for node in (html, svg):
        response = client.get(f"/api/v1/files/{node.id}/download?inline=1")
        assert response["Content-Disposition"].startswith("attachment")
    response = client.get(f"/api/v1/files/{pdf.id}/download?inline=1")
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_privacy_policy_must_be_accepted_once(make_user: Callable[..., User]) -> None:
    user = make_user("newcomer")
    client = browser(user, accepted=False)
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/privacy/accept/")
    assert client.get("/pages/privacy/").status_code == 200  # readable meanwhile
    refused = client.post("/privacy/accept/?next=/dashboard/", {"next": "/dashboard/"})
    assert refused.status_code == 200 and not PolicyAcceptance.objects.exists()
    accepted = client.post("/privacy/accept/", {"accept": "1", "next": "/dashboard/"})
    assert accepted.status_code == 302 and accepted["Location"] == "/dashboard/"
    row = PolicyAcceptance.objects.get(user=user)
    assert row.version == pages.policy_version() and row.accepted_at is not None
    assert client.get("/dashboard/").status_code == 200
    evil = client.post("/privacy/accept/", {"accept": "1", "next": "https://evil.example/"})
    assert evil["Location"] == "/"


def test_site_pages_are_edited_by_site_admins_as_plain_text(
    admin: User, make_user: Callable[..., User]
) -> None:
    plain = browser(make_user("plain"))
    assert plain.post("/pages/about/edit/", {"title": "x", "body": "y"}).status_code == 403
    client = browser(admin)
    response = client.post("/pages/about/edit/", {"title": "About us", "body": f"One\n\n{XSS}"})
    assert response.status_code == 302
    body = Client().get("/pages/about/").content.decode()
    assert "About us" in body and "<p>One</p>" in body and "&lt;script&gt;" in body
    assert "<script>alert" not in body
    assert Client().get("/pages/nope/").status_code == 404


def test_contact_form_stores_message_with_attachment(
    admin: User,
    make_user: Callable[..., User],
    settings: Any,
    tmp_path: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SINFONIA_SUPPORT_DIR = tmp_path / "support"
    settings.SINFONIA_SUPPORT_EMAIL = "admins@example.org"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    anonymous = Client().get("/contact/").content.decode()
    assert 'id="contact-form"' not in anonymous
    sender = browser(make_user("sender"))
    shot = SimpleUploadedFile("écran.png", b"\x89PNG...", content_type="image/png")
    with django_capture_on_commit_callbacks(execute=True):
        response = sender.post(
            "/contact/",
            {"topic": "privacy", "subject": "Leak", "body": "Name in header", "attachments": shot},
        )
    assert response.status_code == 302
    (sent,) = mail.outbox
    assert "Leak" in sent.subject and sent.to == ["admins@example.org"]
    assert sent.attachments[0][0] == "écran.png"
    message = ContactMessage.objects.get()
    assert message.topic == "privacy" and message.attachments.get().name == "écran.png"
    inbox = browser(admin).get("/support/messages/").content.decode()
    assert "Leak" in inbox and "écran.png" in inbox
    attachment = message.attachments.get()
    download = browser(admin).get(f"/support/attachments/{attachment.id}/")
    assert b"".join(download.streaming_content) == b"\x89PNG..."  # type: ignore[attr-defined]
    assert sender.get(f"/support/attachments/{attachment.id}/").status_code == 403
    assert sender.get("/support/messages/").status_code == 403


def test_profile_creates_and_revokes_api_keys(make_user: Callable[..., User]) -> None:
    user = make_user("keyholder")
    client = browser(user)
    created = client.post("/profile/", {"action": "create-key", "name": "laptop"})
    assert created.status_code == 200 and "sfk_" in created.content.decode()
    key = user.api_keys.get(name="laptop")
    client.post("/profile/", {"action": "revoke-key", "key_id": str(key.id)})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_trash_restores_and_purges(admin: User, tree_nodes: dict[str, Node]) -> None:
    from sinfonia.resources.services import trash

    a = Actor(user=admin, channel="web")
    (item,) = trash.trash_nodes(a, [tree_nodes["folder"]])
    client = browser(admin)
    assert "CT " in client.get("/trash/").content.decode()
    client.post("/trash/", {"action": "restore", "item_id": str(item.id)})
    tree_nodes["folder"].refresh_from_db()
    assert not tree_nodes["folder"].in_trash


def test_groups_and_users_pages(admin: User, make_user: Callable[..., User]) -> None:
    from sinfonia.accounts.services import groups

    a = Actor(user=admin, channel="web")
    group = groups.create_group(a, "Radiology " + XSS, public=True)
    make_user("bob")
    client = browser(admin)
    assert "bob" in client.get("/users/").content.decode()
    listing = client.get("/groups/").content.decode()
    assert "Radiology" in listing and "<script>alert" not in listing
    client.post(f"/groups/{group.id}/members/", {"username": "bob", "role": "member"})
    assert "bob" in client.get(f"/groups/{group.id}/").content.decode()
    private = groups.create_group(a, "Secret", public=False)
    assert browser(make_user("eve")).get(f"/groups/{private.id}/").status_code == 404
