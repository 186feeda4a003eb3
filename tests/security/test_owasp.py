"""OWASP-style negative tests: cross-site request forgery, stored cross-site scripting, and
insecure direct object references on every kind of object a stranger might name by id.

(Malformed and oversized requests: test_malformed.py. Resumable uploads of another user:
tests/transfers/test_tus.py::test_strangers_and_anonymous_cannot_touch_an_upload. The full
REST permission matrix: tests/api/test_permission_matrix.py.)
"""

from __future__ import annotations

import json
import re
from typing import Any

import asyncssh
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sinfonia.accounts.models import User
from sinfonia.core.context import Actor
from sinfonia.support.models import ContactAttachment, ContactMessage
from sinfonia.support.services import pages
from tests.conftest import Api
from tests.dicom.dicomweb_helpers import bundled, key_client, read, stow
from tests.web.test_views import browser

# -- CSRF -------------------------------------------------------------------------------------


def csrf_browser(user: User) -> Client:
    """A signed-in browser that, like a real one, does not add the CSRF token by itself."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    pages.accept_policy(Actor(user=user, channel="web"))
    return client


def token_of(client: Client) -> str:
    html = client.get("/profile/").content.decode()
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/profile/", {"action": "create-key", "name": "forged"}),
        ("/profile/", {"action": "details", "email": "mallory@evil.example"}),
        ("/contact/", {"topic": "support", "subject": "forged", "body": "forged"}),
        ("/groups/1/members/", {"username": "mallory", "role": "admin"}),
        ("/privacy/accept/", {"accept": "1"}),
        ("/pages/about/edit/", {"title": "Defaced", "body": "Defaced"}),
    ],
)
def test_portal_posts_without_the_csrf_token_are_refused(admin, path, data):
    client = csrf_browser(admin)
    refused = client.post(path, data)
    assert refused.status_code == 403
    assert b"CSRF" in refused.content
    # the same form with the token is accepted (so it is the token that was missing)
    accepted = client.post(path, data | {"csrfmiddlewaretoken": token_of(client)})
    assert accepted.status_code != 403


def test_cookie_authenticated_api_writes_need_the_csrf_token(admin):
    client = csrf_browser(admin)
    body = json.dumps({"name": "Forged"})
    for content_type in ("application/json", "text/plain"):  # text/plain: a "simple" request
        refused = client.post("/api/v1/collections", body, content_type=content_type)
        assert refused.status_code == 403, refused.content
    assert client.get("/api/v1/collections").json()["total"] == 0
    ok = client.post(
        "/api/v1/collections",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": token_of(client)},
    )
    assert ok.status_code == 201
    # reads need no token
    assert client.get("/api/v1/users/me").status_code == 200


def test_cookie_authenticated_dicomweb_stow_needs_the_csrf_token(admin):
    client = csrf_browser(admin)
    assert stow(client, [bundled("CT_small.dcm")]).status_code == 403


def test_signing_in_through_the_api_resists_login_csrf(admin):
    """A foreign page cannot sign the victim in to another account: it can send neither a JSON
    body (without a CORS preflight) nor this site's Origin."""
    client = Client(enforce_csrf_checks=True)
    body = json.dumps({"username": "root", "password": "a-Long-pass-123"})
    form = client.post("/api/v1/session", body, content_type="text/plain")
    assert form.status_code == 415

    def sent_from(origin):
        return client.post(
            "/api/v1/session", body, content_type="application/json", headers={"Origin": origin}
        )

    foreign = sent_from("https://evil.example")
    assert foreign.status_code == 403
    assert "sessionid" not in client.cookies
    same = sent_from("http://testserver")
    assert same.status_code == 200


# -- stored XSS -------------------------------------------------------------------------------

# Names may not contain "/", so the name payloads need no closing tag to bite.
NAME_XSS = '"><img src=x onerror=alert(1)>'
TEXT_XSS = "<script>alert(document.cookie)</script>"
ATTR_XSS = "' onmouseover='alert(1)"


@pytest.fixture
def poisoned(admin: User, admin_api: Api) -> dict[str, Any]:
    """Every user-written text the portal shows, each holding a payload."""
    coll = admin_api.ok(
        admin_api.post("/collections", {"name": "C" + NAME_XSS, "description": TEXT_XSS}), 201
    )
    folder = admin_api.ok(
        admin_api.post(
            "/folders", {"parent_id": coll["id"], "name": "F" + ATTR_XSS, "description": TEXT_XSS}
        ),
        201,
    )
    f = admin_api.ok(
        admin_api.upload(folder["id"], "f" + NAME_XSS + ".txt", TEXT_XSS.encode()), 201
    )
    csv_file = admin_api.ok(
        admin_api.upload(folder["id"], "t.csv", f"a,{TEXT_XSS}\n".encode()), 201
    )
    admin_api.ok(admin_api.patch(f"/resources/{f['id']}/metadata", {"k" + NAME_XSS: TEXT_XSS}))
    group = admin_api.ok(
        admin_api.post("/groups", {"name": "G" + NAME_XSS, "description": TEXT_XSS}), 201
    )
    admin_api.ok(
        admin_api.patch(f"/users/{admin.id}", {"first_name": TEXT_XSS, "last_name": NAME_XSS})
    )
    admin_api.ok(admin_api.post(f"/users/{admin.id}/api-keys", {"name": TEXT_XSS}), 201)
    client = browser(admin)
    sent = client.post("/contact/", {"topic": "support", "subject": TEXT_XSS, "body": NAME_XSS})
    assert sent.status_code == 302
    return {"coll": coll, "folder": folder, "file": f, "csv": csv_file, "group": group}


def assert_inert(html: str) -> None:
    for payload in (NAME_XSS, TEXT_XSS, ATTR_XSS):
        assert payload not in html
    assert "<img src=x" not in html and "<script>alert" not in html
    assert "onmouseover='alert" not in html


def test_payloads_in_names_descriptions_and_metadata_render_escaped(admin, poisoned):
    client = browser(admin)
    p = poisoned
    urls = [
        "/dashboard/",
        f"/r/{p['coll']['id']}/",
        f"/r/{p['coll']['id']}/children/",
        f"/r/{p['folder']['id']}/",
        f"/r/{p['folder']['id']}/children/",
        f"/r/{p['file']['id']}/",
        f"/r/{p['file']['id']}/preview/",
        f"/r/{p['csv']['id']}/preview/",
        "/groups/",
        f"/groups/{p['group']['id']}/",
        "/users/",
        "/profile/",
        "/support/messages/",
        "/audit/",
    ]
    seen_escaped = 0
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert_inert(html)
        seen_escaped += html.count("&lt;script&gt;") + html.count("&lt;img src=x")
    assert seen_escaped >= len(urls)  # the texts are shown, escaped, not dropped


def test_payloads_in_json_are_data_not_markup(admin_api, poisoned):
    response = admin_api.get(f"/resources/{poisoned['file']['id']}")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert (
        "Content-Security-Policy" not in response
        or "sandbox" in response["Content-Security-Policy"]
    )
    body = response.json()
    assert body["name"] == "f" + NAME_XSS + ".txt"
    assert body["meta"] == {"k" + NAME_XSS: TEXT_XSS}


# -- IDOR -------------------------------------------------------------------------------------

SECRETS = ("SECRET",)


@pytest.fixture
def owned(make_user, api_for, admin_api) -> dict[str, Any]:
    """One object of every kind, owned by ``owner``; ``stranger`` is an unrelated account."""
    owner_user = make_user("owner")
    stranger_user = make_user("stranger")
    owner: Api = api_for(owner_user)
    # ordinary users cannot make collections: the administrator makes one and hands it over
    coll = admin_api.ok(admin_api.post("/collections", {"name": "SECRET coll"}), 201)
    admin_api.ok(
        admin_api.put(
            f"/resources/{coll['id']}/acl", {"entries": [{"user": "owner", "level": "admin"}]}
        )
    )
    folder = owner.ok(
        owner.post("/folders", {"parent_id": coll["id"], "name": "SECRET folder"}), 201
    )
    fileset = owner.ok(
        owner.post("/filesets", {"parent_id": folder["id"], "name": "SECRET set"}), 201
    )
    f = owner.ok(owner.upload(folder["id"], "SECRET.txt", b"SECRET bytes"), 201)
    owner.ok(owner.patch(f"/resources/{f['id']}/metadata", {"SECRET": "SECRET"}))
    gone = owner.ok(owner.post("/folders", {"parent_id": folder["id"], "name": "SECRET gone"}), 201)
    [trash_id] = owner.ok(owner.delete(f"/resources/{gone['id']}"))["trash_ids"]
    op = owner.ok(
        owner.post(
            "/resources/copy/background", {"sources": [f["id"]], "destination_id": fileset["id"]}
        ),
        202,
    )
    keys = owner.ok(owner.get(f"/users/{owner_user.id}/api-keys"))
    public = asyncssh.generate_private_key("ssh-ed25519", comment="SECRET").export_public_key()
    ssh = owner.ok(
        owner.post(
            f"/users/{owner_user.id}/ssh-keys", {"public_key": public.decode(), "name": "SECRET"}
        ),
        201,
    )
    group = owner.ok(owner.post("/groups", {"name": "SECRET group", "public": False}), 201)
    dw = key_client(owner_user)
    assert stow(dw, [bundled("CT_small.dcm")], destination_id=str(folder["id"])).status_code == 200
    client = browser(owner_user)
    attachment = SimpleUploadedFile("SECRET.txt", b"SECRET", content_type="text/plain")
    sent = client.post(
        "/contact/",
        {"topic": "support", "subject": "SECRET", "body": "SECRET", "attachments": [attachment]},
    )
    assert sent.status_code == 302
    return {
        "owner": owner_user,
        "stranger": api_for(stranger_user),
        "stranger_user": stranger_user,
        "coll": coll["id"],
        "folder": folder["id"],
        "fileset": fileset["id"],
        "file": f["id"],
        "trash": trash_id,
        "op": op["id"],
        "apikey": keys[0]["id"],
        "sshkey": ssh["id"],
        "group": group["id"],
        "uid": owner_user.id,
        "study": read(bundled("CT_small.dcm")).StudyInstanceUID,
        "message": ContactMessage.objects.get().id,
        "attachment": ContactAttachment.objects.get().id,
    }


API_IDOR = [
    ("collection", "GET", "/resources/{coll}", None),
    ("collection", "PATCH", "/resources/{coll}", {"description": "pwned"}),
    ("collection children", "GET", "/resources/{coll}/children", None),
    ("folder", "GET", "/resources/{folder}", None),
    ("folder", "DELETE", "/resources/{folder}", None),
    ("folder", "POST", "/folders", {"parent_id": "{folder}", "name": "x"}),
    ("fileset", "GET", "/resources/{fileset}", None),
    ("fileset", "POST", "/resources/move", {"sources": ["{fileset}"], "destination_id": "{coll}"}),
    ("file", "GET", "/files/{file}/download", None),
    ("file", "GET", "/files/{file}/zip", None),
    ("file", "POST", "/resources/copy", {"sources": ["{file}"], "destination_id": "{folder}"}),
    ("acl", "GET", "/resources/{coll}/acl", None),
    ("acl", "PUT", "/resources/{coll}/acl", {"entries": [{"user": "stranger", "level": "admin"}]}),
    ("metadata", "GET", "/resources/{file}/metadata", None),
    ("metadata", "PATCH", "/resources/{file}/metadata", {"x": "y"}),
    ("metadata", "PUT", "/resources/{file}/metadata", {}),
    ("operation", "GET", "/operations/{op}", None),
    ("trash item", "POST", "/trash/{trash}/restore", None),
    ("trash item", "DELETE", "/trash/{trash}", None),
    ("api key", "GET", "/users/{uid}/api-keys", None),
    ("api key", "POST", "/users/{uid}/api-keys", {"name": "mine now"}),
    ("api key", "DELETE", "/api-keys/{apikey}", None),
    ("ssh key", "GET", "/users/{uid}/ssh-keys", None),
    ("ssh key", "DELETE", "/ssh-keys/{sshkey}", None),
    ("group", "GET", "/groups/{group}", None),
    ("group", "PATCH", "/groups/{group}", {"description": "pwned"}),
    ("group", "DELETE", "/groups/{group}", None),
    ("group", "GET", "/groups/{group}/members", None),
    ("group", "PUT", "/groups/{group}/members/{uid}", {"role": "member"}),
    ("user", "PATCH", "/users/{uid}", {"email": "mallory@evil.example"}),
    ("user", "PUT", "/users/{uid}/password", {"new_password": "Mallory-owns-1234"}),
    ("dicom", "GET", "/files/{file}/dicom", None),
    ("audit", "GET", "/audit", None),
    ("audit", "GET", "/audit.csv", None),
]


def fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole:
            return ids[whole.group(1)]
        return value.format(**ids)
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {fill(k, ids): fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("kind", "method", "path", "body"), API_IDOR, ids=lambda v: str(v)[:40])
def test_a_stranger_cannot_reach_another_users_objects_through_the_api(
    owned, kind, method, path, body
):
    stranger: Api = owned["stranger"]
    url = f"/api/v1{fill(path, owned)}"
    payload = json.dumps(fill(body, owned)) if body is not None else ""
    response = stranger.client.generic(method, url, payload, content_type="application/json")
    assert response.status_code in (403, 404), (kind, response.status_code, response.content[:300])
    assert not any(s in response.content.decode() for s in SECRETS), response.content[:300]


def test_nothing_the_stranger_tried_changed_anything(owned):
    stranger: Api = owned["stranger"]
    for _kind, method, path, body in API_IDOR:
        payload = json.dumps(fill(body, owned)) if body is not None else ""
        stranger.client.generic(
            method, f"/api/v1{fill(path, owned)}", payload, content_type="application/json"
        )
    owner = Api(owned["owner"])
    assert owner.ok(owner.get(f"/resources/{owned['coll']}"))["description"] == ""
    assert owner.ok(owner.get(f"/resources/{owned['file']}/metadata")) == {"SECRET": "SECRET"}
    assert [t["id"] for t in owner.ok(owner.get("/trash"))] == [owned["trash"]]
    assert len(owner.ok(owner.get(f"/users/{owned['uid']}/ssh-keys"))) == 1
    assert owner.ok(owner.get(f"/groups/{owned['group']}"))["description"] == ""
    assert owner.get("/users/me").json()["email"] == ""


def test_a_stranger_cannot_reach_another_users_objects_in_the_portal(owned):
    client = browser(owned["stranger_user"])
    for url in (
        f"/r/{owned['coll']}/",
        f"/r/{owned['folder']}/children/",
        f"/r/{owned['file']}/preview/",
        f"/groups/{owned['group']}/",
        f"/support/attachments/{owned['attachment']}/",
        "/support/messages/",
        "/audit/",
    ):
        response = client.get(url)
        assert response.status_code in (403, 404), (url, response.status_code)
        assert b"SECRET" not in response.content, url
    refused = client.post(
        f"/groups/{owned['group']}/members/", {"username": "stranger", "role": "admin"}
    )
    assert refused.status_code in (403, 404)


def test_a_stranger_cannot_reach_another_users_dicom_study(owned):
    dw = key_client(owned["stranger_user"])
    study = owned["study"]
    found = dw.get("/dicom-web/studies", {"StudyInstanceUID": study})
    assert found.status_code in (200, 204)
    assert study not in found.content.decode()
    for url in (
        f"/dicom-web/studies/{study}",
        f"/dicom-web/studies/{study}/metadata",
        f"/dicom-web/studies/{study}/series",
        f"/dicom-web/studies/{study}/thumbnail",
    ):
        response = dw.get(url)
        assert response.status_code in (204, 404) or (
            response.status_code == 200 and json.loads(response.content or b"[]") == []
        ), (url, response.status_code)
    # and storing into the owner's folder is refused
    refused = stow(dw, [bundled("MR_small.dcm")], destination_id=str(owned["folder"]))
    assert refused.status_code in (403, 404)
