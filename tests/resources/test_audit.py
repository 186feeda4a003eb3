"""Tree operations leave audit events that site administrators can read and filter."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.resources.helpers import (
    body_of,
    collection,
    copy,
    download,
    error,
    fileset,
    folder,
    move,
    set_acl,
    upload,
)


def _events(api: Api, **params: Any) -> list[dict[str, Any]]:
    page = api.ok(api.get("/audit", limit=1000, **params))
    assert page["total"] == len(page["items"])
    return list(page["items"])


def test_tree_operations_are_audited(admin_api, make_user, api_for):
    bob_user = make_user("bob")
    bob = api_for(bob_user)
    coll = collection(admin_api, "WP2")
    set_acl(admin_api, coll, {"root": "admin", "bob": "write"})
    d = folder(bob, coll, "CT")
    fs = fileset(bob, d, "Series")
    f = upload(bob, fs, "scan.dcm", b"bytes")
    assert body_of(download(bob, f)) == b"bytes"
    dest = folder(bob, coll, "Dest")
    bob.ok(move(bob, [fs], dest))
    clone = bob.ok(copy(bob, [f], d), 201)[0]
    [item_id] = bob.ok(bob.delete(f"/resources/{d['id']}"))["trash_ids"]
    bob.ok(bob.post(f"/trash/{item_id}/restore"))

    events = _events(admin_api)
    actions = [e["action"] for e in events]
    for action in (
        "collection.create",
        "acl.set",
        "folder.create",
        "fileset.create",
        "file.upload",
        "file.download",
        "fileset.move",
        "file.copy",
        "folder.trash",
        "folder.restore",
    ):
        assert action in actions, action
    # Newest first.
    assert actions[0] == "folder.restore"
    tree_actions = {"collection", "folder", "fileset", "file", "acl"}
    tree_events = [e for e in events if e["action"].split(".")[0] in tree_actions]
    assert {e["channel"] for e in tree_events} == {"api"}

    by_action = {e["action"]: e for e in events}
    assert by_action["collection.create"]["username"] == "root"
    assert by_action["acl.set"]["node_id"] == coll["id"]
    upload_event = by_action["file.upload"]
    assert (upload_event["username"], upload_event["node_id"]) == ("bob", f["id"])
    assert upload_event["path"] == "/WP2/CT/Series/scan.dcm"
    assert upload_event["detail"]["sha256"] == f["sha256"]
    move_event = by_action["fileset.move"]
    assert move_event["path"] == "/WP2/Dest/Series"
    assert move_event["detail"]["moved_from"] == "/WP2/CT/Series"
    copy_event = by_action["file.copy"]
    assert copy_event["node_id"] == clone["id"]
    assert copy_event["detail"]["copied_from"] == "/WP2/Dest/Series/scan.dcm"
    assert by_action["folder.trash"]["path"] == "/WP2/CT"

    # Filters.
    bobs = _events(admin_api, username="bob")
    assert bobs and {e["username"] for e in bobs} == {"bob"}
    assert len(bobs) == len([e for e in events if e["username"] == "bob"])
    assert [e["action"] for e in _events(admin_api, action="fileset.move")] == ["fileset.move"]
    assert {e["action"] for e in _events(admin_api, action="file.")} == {
        "file.upload",
        "file.download",
        "file.copy",
    }
    assert {e["action"] for e in _events(admin_api, node_id=f["id"])} == {
        "file.upload",
        "file.download",
    }
    assert {e["action"] for e in _events(admin_api, node_id=d["id"])} == {
        "folder.create",
        "folder.trash",
        "folder.restore",
    }
    assert _events(admin_api, username="nobody") == []


def test_purge_is_audited_after_the_element_is_gone(admin_api):
    coll = collection(admin_api, "WP2")
    d = folder(admin_api, coll, "Old")
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{d['id']}"))["trash_ids"]
    assert admin_api.delete(f"/trash/{item_id}").status_code == 204
    [purge] = _events(admin_api, action="trash.purge")
    assert (purge["path"], purge["node_id"], purge["detail"]["elements"]) == ("/WP2/Old", None, 1)
    # Earlier events of the purged element stay readable.
    assert [e["path"] for e in _events(admin_api, action="folder.create")] == ["/WP2/Old"]


def test_only_site_administrators_read_the_audit_log(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    collection(admin_api, "WP2")
    assert error(bob.get("/audit"), 403)["code"] == "not_site_admin"
