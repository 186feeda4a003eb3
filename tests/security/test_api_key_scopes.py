"""API-key scopes and expiry, enforced in the service layer and so on every front-end that
accepts a key: REST, resumable uploads (tus, live server) and DICOMweb STOW-RS."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sinfonia.accounts.models import ApiKey, User
from sinfonia.accounts.services import apikeys
from sinfonia.audit.models import AuditEvent
from sinfonia.resources.models import Node
from tests.conftest import SYSTEM, Api
from tests.dicom.dicomweb_helpers import bundled, stow
from tests.transfers.live import TUS, LiveServer, metadata, running

READ_ONLY = {"code": "read_only_key", "detail": "This API key is read-only; use a read-write key."}


class KeyApi(Api):
    """`Api` with a key of the given scope and expiry."""

    def __init__(self, user: User, scope: str = "read-write", **kwargs: Any) -> None:
        super().__init__(None)
        self.user = user
        _, self.key = apikeys.create_api_key(SYSTEM, user, "scoped", scope=scope, **kwargs)
        self.client = Client(headers={"Authorization": f"Bearer {self.key}"})


@pytest.fixture
def alice(make_user) -> User:
    user: User = make_user("alice")
    return user


@pytest.fixture
def setup(admin_api, alice) -> dict[str, Any]:
    """A collection where alice may write, with a folder and a file in it."""
    coll = admin_api.ok(admin_api.post("/collections", {"name": "Scoped"}), 201)
    admin_api.ok(
        admin_api.put(
            f"/resources/{coll['id']}/acl",
            {"entries": [{"user": "alice", "level": "write"}]},
        )
    )
    folder = admin_api.ok(admin_api.post("/folders", {"parent_id": coll["id"], "name": "F"}), 201)
    file = admin_api.ok(admin_api.upload(folder["id"], "a.txt", b"hello"), 201)
    return {"coll": coll, "folder": folder, "file": file}


def test_a_read_only_key_reads_lists_searches_and_downloads(alice, setup):
    ro = KeyApi(alice, "read")
    assert ro.ok(ro.get(f"/resources/{setup['folder']['id']}/children"))["total"] == 1
    assert ro.ok(ro.get(f"/resources/{setup['file']['id']}"))["name"] == "a.txt"
    download = ro.get(f"/files/{setup['file']['id']}/download")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"hello"
    assert ro.get("/search", q="a.txt").status_code == 200
    assert ro.ok(ro.get("/users/me"))["username"] == "alice"


def test_a_read_only_key_downloads_archives_zip_listings_and_dicom(alice, setup):
    import io
    import zipfile

    from tests.dicom.dicomweb_helpers import body_of, read

    rw = KeyApi(alice)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("inner.txt", "x")
    zipped = rw.ok(rw.upload(setup["folder"]["id"], "z.zip", buffer.getvalue()), 201)
    ct = bundled("CT_small.dcm")
    assert stow(rw.client, [ct], destination_id=str(setup["folder"]["id"])).status_code == 200
    ro = KeyApi(alice, "read")
    archive = ro.get("/archive", ids=str(setup["folder"]["id"]))
    assert archive.status_code == 200
    assert "F/a.txt" in zipfile.ZipFile(io.BytesIO(body_of(archive))).namelist()
    assert [e["name"] for e in ro.ok(ro.get(f"/files/{zipped['id']}/zip"))] == ["inner.txt"]
    study = read(ct).StudyInstanceUID
    metadata = ro.client.get(f"/dicom-web/studies/{study}/metadata")
    assert metadata.status_code == 200
    assert ro.client.get(f"/dicom-web/studies/{study}").status_code == 200


@pytest.mark.parametrize(
    "call",
    [
        lambda ro, s: ro.post("/folders", {"parent_id": s["coll"]["id"], "name": "New"}),
        lambda ro, s: ro.upload(s["folder"]["id"], "b.txt", b"x"),
        lambda ro, s: ro.patch(f"/resources/{s['folder']['id']}", {"description": "changed"}),
        lambda ro, s: ro.patch(f"/resources/{s['folder']['id']}/metadata", {"k": "v"}),
        lambda ro, s: ro.post("/resources/delete", {"ids": [s["folder"]["id"]]}),
        lambda ro, s: ro.post(
            "/resources/copy", {"sources": [s["file"]["id"]], "destination_id": s["coll"]["id"]}
        ),
        lambda ro, s: ro.post("/groups", {"name": "Mine"}),
        lambda ro, s: ro.post(f"/users/{ro.user.id}/api-keys", {"name": "escalate"}),
        lambda ro, s: ro.patch(f"/users/{ro.user.id}", {"first_name": "Eve"}),
        lambda ro, s: ro.post("/upload-tokens"),
    ],
    ids=[
        "folder",
        "upload",
        "rename",
        "metadata",
        "trash",
        "copy",
        "group",
        "new-key",
        "profile",
        "upload-token",
    ],
)
def test_a_read_only_key_changes_nothing(alice, setup, call):
    ro = KeyApi(alice, "read")
    before = (Node.objects.count(), AuditEvent.objects.count(), ApiKey.objects.count())
    response = call(ro, setup)
    assert response.status_code == 403, response.content
    assert response.json() == READ_ONLY
    assert (Node.objects.count(), AuditEvent.objects.count(), ApiKey.objects.count()) == before
    # the same call with a read-write key of the same user goes through
    rw = KeyApi(alice)
    assert call(rw, setup).status_code < 300


def test_a_read_only_key_cannot_revoke_keys_but_the_profile_owner_can(alice):
    ro = KeyApi(alice, "read")
    rw = KeyApi(alice)
    listed = {k["name"]: k for k in rw.ok(rw.get(f"/users/{alice.id}/api-keys"))}
    assert listed["scoped"]["scope"] in ("read", "read-write")
    scopes = sorted(k["scope"] for k in rw.ok(rw.get(f"/users/{alice.id}/api-keys")))
    assert scopes == ["read", "read-write"]
    ro_id = next(
        k["id"] for k in rw.ok(rw.get(f"/users/{alice.id}/api-keys")) if k["scope"] == "read"
    )
    assert ro.delete(f"/api-keys/{ro_id}").json() == READ_ONLY
    assert rw.delete(f"/api-keys/{ro_id}").status_code == 204
    assert ro.get("/users/me").status_code == 401


def test_keys_are_created_with_a_scope_through_the_api(alice):
    rw = KeyApi(alice)
    created = rw.ok(rw.post(f"/users/{alice.id}/api-keys", {"name": "r", "scope": "read"}), 201)
    assert created["scope"] == "read" and created["key"].startswith("sfk_")
    assert rw.post(f"/users/{alice.id}/api-keys", {"scope": "admin"}).status_code == 422
    # the secret is shown once: listings never carry it
    assert all("key" not in k for k in rw.ok(rw.get(f"/users/{alice.id}/api-keys")))
    assert ApiKey.objects.get(prefix=created["prefix"]).key_hash not in created["key"]


def test_an_expired_key_is_refused_and_a_past_expiry_cannot_be_set(alice):
    key = KeyApi(alice, expires_at=timezone.now() + timedelta(hours=1))
    assert key.get("/users/me").status_code == 200
    ApiKey.objects.filter(user=alice).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert key.get("/users/me").status_code == 401
    rw = KeyApi(alice)
    past = (timezone.now() - timedelta(days=1)).isoformat()
    refused = rw.post(f"/users/{alice.id}/api-keys", {"name": "old", "expires_at": past})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_api_key"


def test_a_read_only_key_cannot_stow_dicom(alice, setup):
    ro = KeyApi(alice, "read")
    response = stow(ro.client, [bundled("CT_small.dcm")])
    assert response.status_code == 403, response.content
    assert json.loads(response.content)["code"] == "read_only_key"
    assert not Node.objects.filter(name__endswith=".dcm").exists()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    with running(tmp_path_factory.mktemp("scopes"), collection="Scopes") as server:
        yield server


def test_a_read_only_key_cannot_open_a_resumable_upload(live: LiveServer):
    ro_key = live.cli("apikey", "create", "admin", "--read-only").strip()
    meta = metadata(filename="x.bin", parent_id=live.collection_id)
    headers = TUS | {"Upload-Length": "3", "Upload-Metadata": meta}
    with live.client(ro_key) as ro:
        refused = ro.post("/uploads", headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "read_only_key"
        assert ro.get(f"/resources/{live.collection_id}").status_code == 200
    with live.client() as rw:
        assert rw.post("/uploads", headers=headers).status_code == 201
