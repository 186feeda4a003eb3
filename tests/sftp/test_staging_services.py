"""Staging-area services through the REST API in-process, operations run with run_pending."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from sinfonia.accounts.models import User
from sinfonia.transfers.services import operations
from tests.conftest import Api
from tests.sftp.staging_area import home, own_staging_area


@pytest.fixture(autouse=True)
def _sftp_dir(tmp_path: Path, settings: Any) -> None:
    own_staging_area(settings, tmp_path, 100_000)


def staging(api: Api, **params: Any) -> Any:
    return api.client.get("/api/v1/sftp/staging", params)


def lookup(api: Api, path: str) -> Any:
    return api.client.get("/api/v1/resource/lookup", {"path": path})


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


def test_listing_is_paginated_folders_first(alice: User, api_for: Callable[..., Api]) -> None:
    for name in ("b.txt", "a.txt", "C.txt"):
        write(home(alice) / "in" / name, b"12345")
    (home(alice) / "in" / "zdir").mkdir()
    api = api_for(alice)
    page = api.ok(staging(api, path="in", limit=2))
    assert [e["name"] for e in page["items"]] == ["zdir", "a.txt"]
    assert (page["total"], page["usage"], page["quota"]) == (4, 15, 100_000)
    page = api.ok(staging(api, path="/in/", offset=2, limit=2))
    assert [e["path"] for e in page["items"]] == ["in/b.txt", "in/C.txt"]
    assert staging(api, path="../alice").status_code == 400
    assert staging(api, path="missing").status_code == 404
    assert staging(api, path="in/a.txt").status_code == 400


def test_import_tree_with_identifier_and_default_name(
    alice: User, api_for: Callable[..., Api], admin_api: Api
) -> None:
    write(home(alice) / "scan" / "s1" / "i1.dcm", b"one")
    write(home(alice) / "scan" / "i2.dcm", b"two")
    (home(alice) / "scan" / "empty").mkdir()
    api = api_for(alice)
    target = api.ok(api.get("/users/me"))["home_id"]
    op = api.ok(
        api.post(
            "/sftp/import",
            {"paths": ["scan"], "destination_id": target, "sinfonia_id": "SINFONIA-T2.1"},
        ),
        202,
    )
    assert op["status"] == "queued" and op["total"] == 6
    assert operations.run_pending() == 1
    op = api.ok(api.get(f"/operations/{op['id']}"))
    assert op["status"] == "done", op
    folder = op["result"]["path"]
    assert folder.startswith("/~alice/upload_alice_") and folder.endswith("+0000")
    node = api.ok(lookup(api, f"{folder}/scan/s1/i1.dcm/i1.dcm"))
    assert node["sinfonia_id"] == "SINFONIA-T2.1" and node["size"] == 3
    assert api.ok(lookup(api, f"{folder}/scan/empty"))["kind"] == "folder"
    assert (home(alice) / "scan").exists()  # kept unless remove_after
    events = admin_api.ok(admin_api.get("/audit", username="alice", action="file.upload"))
    assert len(events["items"]) == 2


def test_import_checks(alice: User, make_user: Callable[..., User], api_for: Callable[..., Api],
                       admin_api: Api) -> None:  # fmt: skip
    write(home(alice) / "f.txt", b"x")
    api = api_for(alice)
    collection = admin_api.ok(admin_api.post("/collections", {"name": "Closed"}), 201)
    mine = api.ok(api.get("/users/me"))["home_id"]
    cases = [
        ({"paths": ["f.txt"], "destination_id": collection["id"]}, 404),
        ({"paths": ["nope.txt"], "destination_id": mine}, 404),
        ({"paths": ["../../etc"], "destination_id": mine}, 400),
        ({"paths": ["f.txt"], "destination_id": mine, "sinfonia_id": "BAD ID"}, 400),
        ({"paths": ["f.txt"], "destination_id": mine, "folder_name": "a/b"}, 400),
    ]
    for body, status in cases:
        assert api.post("/sftp/import", body).status_code == status, body
    api.ok(api.post("/folders", {"parent_id": mine, "name": "taken"}), 201)
    body = {"paths": ["f.txt"], "destination_id": mine, "folder_name": "taken"}
    assert api.post("/sftp/import", body).status_code == 409


def test_export_writes_the_tree_and_audits_reads(
    alice: User, api_for: Callable[..., Api], admin_api: Api
) -> None:
    api = api_for(alice)
    mine = api.ok(api.get("/users/me"))["home_id"]
    folder = api.ok(api.post("/folders", {"parent_id": mine, "name": "Study"}), 201)
    api.ok(api.upload(folder["id"], "a.txt", b"alpha"), 201)
    api.ok(api.upload(folder["id"], "b.txt", b"beta"), 201)
    op = api.ok(api.post("/sftp/export", {"sources": [folder["id"]], "folder_name": "out"}), 202)
    operations.run_pending()
    op = api.ok(api.get(f"/operations/{op['id']}"))
    assert op["status"] == "done", op
    assert (home(alice) / "out" / "Study" / "a.txt").read_bytes() == b"alpha"
    assert (home(alice) / "out" / "Study" / "b.txt").read_bytes() == b"beta"
    reads = admin_api.ok(admin_api.get("/audit", username="alice", action="file.download"))
    assert {e["path"] for e in reads["items"]} == {
        "/~alice/Study/a.txt/a.txt",
        "/~alice/Study/b.txt/b.txt",
    }
    again = api.post("/sftp/export", {"sources": [folder["id"]], "folder_name": "out"})
    assert again.status_code == 409
    big = api.ok(api.upload(mine, "big.bin", os.urandom(100_001)), 201)
    refused = api.post("/sftp/export", {"sources": [big["id"]]})
    assert refused.status_code == 409 and refused.json()["code"] == "quota_exceeded"


def test_connection_details(alice: User, api_for: Callable[..., Api]) -> None:
    api = api_for(alice)
    info = api.ok(api.get("/sftp/connection"))
    assert info["username"] == "alice" and info["port"] == 2222 and info["enabled"]
    assert info["host"] == "testserver"
    assert info["fingerprint"].startswith("SHA256:")
    assert set(info["instructions"]) >= {"command_line", "filezilla", "winscp"}
    assert "sftp -P 2222 alice@testserver" in info["instructions"]["command_line"]


def test_ssh_key_rules(alice: User, make_user: Callable[..., User],
                       api_for: Callable[..., Api]) -> None:  # fmt: skip
    api = api_for(alice)
    me = api.ok(api.get("/users/me"))["id"]
    weak = asyncssh.generate_private_key("ssh-rsa", key_size=1024).export_public_key()
    response = api.post(f"/users/{me}/ssh-keys", {"public_key": weak.decode()})
    assert response.status_code == 400 and "2048" in response.json()["detail"]
    good = asyncssh.generate_private_key("ssh-ed25519", comment="laptop")
    added = api.ok(
        api.post(f"/users/{me}/ssh-keys", {"public_key": good.export_public_key().decode()}), 201
    )
    assert added["name"] == "laptop" and added["fingerprint"] == good.get_fingerprint("sha256")
    bob = make_user("bob")
    taken = api_for(bob).post(f"/users/{bob.id}/ssh-keys", {"public_key": added["public_key"]})
    assert taken.status_code == 409


def test_changes_to_a_staging_area_are_audited(alice: User, api_for: Callable[..., Api]) -> None:
    from sinfonia.audit.models import AuditEvent
    from sinfonia.core.context import Actor
    from sinfonia.transfers.services.staging import Area

    area = Area.of(Actor(user=alice, channel="sftp", client="127.0.0.1"))
    area.mkdir(["scans"])
    out = area.open(["scans", "a.bin"], write=True, create=True)
    out.write(0, b"12345")
    out.close()
    area.rename(["scans", "a.bin"], ["scans", "b.bin"])
    area.remove(["scans", "b.bin"])
    write(home(alice) / "old" / "x.txt", b"x")
    api = api_for(alice)
    assert api.ok(api.post("/sftp/delete", {"paths": ["old"]})) == {"deleted": 1}
    events = list(
        AuditEvent.objects.filter(action__startswith="staging.", username="alice")
        .order_by("id")
        .values_list("action", "path", "channel")
    )
    assert events == [
        ("staging.mkdir", "/home/scans", "sftp"),
        ("staging.write", "/home/scans/a.bin", "sftp"),
        ("staging.rename", "/home/scans/a.bin", "sftp"),
        ("staging.delete", "/home/scans/b.bin", "sftp"),
        ("staging.delete", "/home/old", "api"),
    ]
    written = AuditEvent.objects.get(action="staging.write")
    assert written.detail == {"written": 5, "size": 5}
