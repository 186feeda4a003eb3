"""The recycle bin: delete, list, restore, purge, and expiry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from sinfonia.core.context import Actor
from sinfonia.core.errors import PermissionDenied
from sinfonia.resources.models import Node, TrashItem
from sinfonia.resources.services.trash import purge_expired
from sinfonia.storage import blobstore
from sinfonia.storage.models import Blob
from tests.conftest import Api
from tests.resources.helpers import (
    blob_files,
    body_of,
    child_names,
    collection,
    copy,
    detail,
    download,
    error,
    fileset,
    folder,
    lookup,
    ref_count,
    set_acl,
    upload,
)


def _bin(api: Api) -> Any:
    return api.ok(api.get("/trash"))


def _restore(api: Api, item_id: int, **body: Any) -> Any:
    return api.post(f"/trash/{item_id}/restore", body or None)


@pytest.fixture
def tree(admin_api):
    coll = collection(admin_api, "WP2")
    ct = folder(admin_api, coll, "CT")
    fs = fileset(admin_api, ct, "Series")
    f = upload(admin_api, fs, "scan.dcm", b"scan bytes")
    return coll, ct, fs, f


def test_deleted_element_goes_to_the_bin_and_disappears(admin_api, tree):
    coll, ct, fs, f = tree
    trashed = admin_api.ok(admin_api.delete(f"/resources/{fs['id']}"))
    assert len(trashed["trash_ids"]) == 1

    [item] = _bin(admin_api)
    assert item["id"] == trashed["trash_ids"][0]
    assert (item["node_id"], item["kind"], item["name"]) == (fs["id"], "fileset", "Series")
    assert item["original_path"] == "/WP2/CT/Series"
    assert item["trashed_at"]

    for node in (fs, f):
        assert error(admin_api.get(f"/resources/{node['id']}"), 404)["code"] == "resource_not_found"
    error(admin_api.get(f"/resources/{fs['id']}/children"), 404)
    error(download(admin_api, f), 404)
    error(lookup(admin_api, "/WP2/CT/Series"), 404)
    error(lookup(admin_api, "/WP2/CT/Series/scan.dcm"), 404)
    assert child_names(admin_api, ct) == []
    assert detail(admin_api, coll)["summary"] == {
        "size": 0,
        "files": 0,
        "filesets": 0,
        "folders": 1,
    }
    error(admin_api.delete(f"/resources/{fs['id']}"), 404)
    # Copying or moving a deleted element is as impossible as reading it.
    error(copy(admin_api, [f], coll), 404)


def test_the_name_of_a_deleted_element_is_free_again(admin_api, tree):
    _coll, ct, fs, _ = tree
    admin_api.ok(admin_api.delete(f"/resources/{fs['id']}"))
    again = fileset(admin_api, ct, "Series")
    assert again["id"] != fs["id"]


def test_delete_several(admin_api, tree):
    coll, _ct, fs, f = tree
    other = fileset(admin_api, coll, "Other")
    g = upload(admin_api, other, "g", b"g")
    result = admin_api.ok(admin_api.post("/resources/delete", {"ids": [f["id"], other["id"]]}))
    assert len(result["trash_ids"]) == 2
    assert {i["original_path"] for i in _bin(admin_api)} == {
        "/WP2/CT/Series/scan.dcm",
        "/WP2/Other",
    }
    error(download(admin_api, g), 404)
    assert child_names(admin_api, fs) == []


def test_deleting_a_folder_together_with_something_inside_it(admin_api, tree):
    coll, ct, fs, f = tree
    for ids in ([ct["id"], f["id"]], [f["id"], ct["id"]]):
        admin_api.ok(admin_api.post("/resources/delete", {"ids": ids}))
        assert child_names(admin_api, coll) == []
        error(download(admin_api, f), 404)
        # The file went along with its folder and comes back with it.
        [item] = _bin(admin_api)
        assert item["node_id"] == ct["id"]
        admin_api.ok(_restore(admin_api, item["id"]))
        assert child_names(admin_api, fs) == ["scan.dcm"]


def test_delete_selection_is_all_or_nothing(admin_api, tree):
    _coll, _ct, fs, f = tree
    response = admin_api.post("/resources/delete", {"ids": [f["id"], 999_999]})
    error(response, 404)
    assert _bin(admin_api) == []
    assert child_names(admin_api, fs) == ["scan.dcm"]


def test_restore_puts_it_back(admin_api, tree):
    coll, ct, _fs, f = tree
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{ct['id']}"))["trash_ids"]
    restored = admin_api.ok(_restore(admin_api, item_id))
    assert (restored["id"], restored["path"]) == (ct["id"], "/WP2/CT")
    assert _bin(admin_api) == []
    assert child_names(admin_api, coll) == ["CT"]
    assert admin_api.ok(lookup(admin_api, "/WP2/CT/Series/scan.dcm"))["id"] == f["id"]
    assert body_of(download(admin_api, f)) == b"scan bytes"
    assert detail(admin_api, coll)["summary"]["files"] == 1


def test_restore_when_the_name_was_reused(admin_api, tree):
    _coll, ct, fs, f = tree
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{fs['id']}"))["trash_ids"]
    newcomer = fileset(admin_api, ct, "Series")

    body = error(_restore(admin_api, item_id), 409)
    assert body["code"] == "name_taken"
    assert "Series" in body["detail"]
    assert [i["id"] for i in _bin(admin_api)] == [item_id]

    bad = error(_restore(admin_api, item_id, new_name="a/b"), 400)
    assert bad["code"] == "invalid_name"
    error(_restore(admin_api, item_id, new_name="Series"), 409)

    restored = admin_api.ok(_restore(admin_api, item_id, new_name="Series (old)"))
    assert (restored["id"], restored["name"]) == (fs["id"], "Series (old)")
    assert child_names(admin_api, ct) == ["Series", "Series (old)"]
    assert admin_api.ok(lookup(admin_api, "/WP2/CT/Series (old)/scan.dcm"))["id"] == f["id"]
    assert admin_api.ok(lookup(admin_api, "/WP2/CT/Series"))["id"] == newcomer["id"]
    assert _bin(admin_api) == []


def test_restore_when_the_original_place_is_itself_deleted(admin_api, tree):
    _coll, ct, fs, f = tree
    [file_item] = admin_api.ok(admin_api.delete(f"/resources/{f['id']}"))["trash_ids"]
    [folder_item] = admin_api.ok(admin_api.delete(f"/resources/{ct['id']}"))["trash_ids"]

    body = error(_restore(admin_api, file_item), 409)
    assert body["code"] == "original_place_gone"
    assert "restore that first" in body["detail"]

    # The folder comes back without the file that was deleted on its own ...
    admin_api.ok(_restore(admin_api, folder_item))
    assert child_names(admin_api, fs) == []
    assert [i["id"] for i in _bin(admin_api)] == [file_item]
    # ... which can then be restored too.
    admin_api.ok(_restore(admin_api, file_item))
    assert child_names(admin_api, fs) == ["scan.dcm"]


def test_restore_a_collection(admin_api, tree):
    coll, _ct, _fs, f = tree
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{coll['id']}"))["trash_ids"]
    error(lookup(admin_api, "/WP2"), 404)
    collection(admin_api, "WP2")
    assert error(_restore(admin_api, item_id), 409)["code"] == "name_taken"
    restored = admin_api.ok(_restore(admin_api, item_id, new_name="WP2 old"))
    assert restored["path"] == "/WP2 old"
    assert admin_api.ok(lookup(admin_api, "/WP2 old/CT/Series/scan.dcm"))["id"] == f["id"]


def test_each_user_has_their_own_bin(admin_api, tree, make_user, api_for):
    coll, _ct, _fs, f = tree
    bob = api_for(make_user("bob"))
    set_acl(admin_api, coll, {"root": "admin", "bob": "write"})
    [item_id] = bob.ok(bob.delete(f"/resources/{f['id']}"))["trash_ids"]
    assert [i["id"] for i in _bin(bob)] == [item_id]
    assert _bin(admin_api) == []
    carol = api_for(make_user("carol"))
    assert error(_restore(carol, item_id), 404)["code"] == "trash_item_not_found"
    error(carol.delete(f"/trash/{item_id}"), 404)
    bob.ok(_restore(bob, item_id))


def test_a_reader_cannot_delete(admin_api, tree, make_user, api_for):
    coll, _ct, _fs, f = tree
    reader = api_for(make_user("reader"))
    set_acl(admin_api, coll, {"root": "admin", "reader": "read"})
    assert error(reader.delete(f"/resources/{f['id']}"), 403)["code"] == "permission_denied"
    assert body_of(download(admin_api, f)) == b"scan bytes"


# --- purging ----------------------------------------------------------------------------------


def test_purge_removes_rows_and_unreferenced_bytes(
    admin_api, tree, django_capture_on_commit_callbacks
):
    coll, ct, fs, f = tree
    sha = f["sha256"]
    blob = Path(blobstore.blob_path(sha))
    assert blob.exists()
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{ct['id']}"))["trash_ids"]
    assert blob.exists()  # deleting only moves to the bin

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.delete(f"/trash/{item_id}")
    assert response.status_code == 204
    assert not blob.exists()
    assert blob_files() == []
    assert not Blob.objects.filter(pk=sha).exists()
    assert not Node.objects.filter(pk__in=[ct["id"], fs["id"], f["id"]]).exists()
    assert not TrashItem.objects.filter(pk=item_id).exists()
    assert _bin(admin_api) == []
    error(_restore(admin_api, item_id), 404)
    assert detail(admin_api, coll)["summary"]["folders"] == 0


def test_purging_a_copy_keeps_the_original_bytes(
    admin_api, tree, django_capture_on_commit_callbacks
):
    coll, _ct, fs, f = tree
    clone = admin_api.ok(copy(admin_api, [fs], coll), 201)[0]
    assert ref_count(f["sha256"]) == 2
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{clone['id']}"))["trash_ids"]
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_api.delete(f"/trash/{item_id}").status_code == 204
    assert ref_count(f["sha256"]) == 1
    assert Path(blobstore.blob_path(f["sha256"])).exists()
    assert body_of(download(admin_api, f)) == b"scan bytes"


def test_same_bytes_uploaded_twice_are_kept_until_the_last_goes(
    admin_api, tree, django_capture_on_commit_callbacks
):
    coll, _ct, _fs, f = tree
    twin = upload(admin_api, fileset(admin_api, coll, "Other"), "same.dcm", b"scan bytes")
    assert twin["sha256"] == f["sha256"]
    assert len(blob_files()) == 1
    assert ref_count(f["sha256"]) == 2
    items = admin_api.ok(admin_api.post("/resources/delete", {"ids": [f["id"]]}))["trash_ids"]
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_api.delete(f"/trash/{items[0]}").status_code == 204
    assert len(blob_files()) == 1
    assert body_of(download(admin_api, twin)) == b"scan bytes"


def test_empty_the_whole_bin(admin_api, tree, django_capture_on_commit_callbacks):
    coll, ct, _fs, _f = tree
    other = upload(admin_api, fileset(admin_api, coll, "Other"), "o", b"other bytes")
    admin_api.ok(admin_api.post("/resources/delete", {"ids": [ct["id"], other["id"]]}))
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_api.ok(admin_api.delete("/trash")) == {"purged": 2}
    assert _bin(admin_api) == []
    assert blob_files() == []


def test_purge_expired_takes_only_old_items(admin_api, tree, settings):
    coll, _ct, fs, f = tree
    settings.SINFONIA_TRASH_RETENTION_DAYS = 7
    other = fileset(admin_api, coll, "Other")
    [old] = admin_api.ok(admin_api.delete(f"/resources/{fs['id']}"))["trash_ids"]
    [recent] = admin_api.ok(admin_api.delete(f"/resources/{other['id']}"))["trash_ids"]
    now = timezone.now()
    TrashItem.objects.filter(pk=old).update(trashed_at=now - timedelta(days=8))
    TrashItem.objects.filter(pk=recent).update(trashed_at=now - timedelta(days=6))

    assert purge_expired(Actor.local_system()) == 1
    assert [i["id"] for i in _bin(admin_api)] == [recent]
    assert not Node.objects.filter(pk__in=[fs["id"], f["id"]]).exists()
    # A week later the other one expires as well.
    assert purge_expired(Actor.local_system(), now=now + timedelta(days=2)) == 1
    assert _bin(admin_api) == []


def test_purge_expired_is_for_site_administrators(make_user):
    with pytest.raises(PermissionDenied):
        purge_expired(Actor(user=make_user("bob"), channel="cli"))


def test_restore_without_a_body(admin_api, tree):
    _coll, ct, _fs, _f = tree
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{ct['id']}"))["trash_ids"]
    # What ``curl -X POST`` sends: no body at all.
    response = admin_api.client.generic("POST", f"/api/v1/trash/{item_id}/restore")
    assert admin_api.ok(response)["id"] == ct["id"]


def test_deleted_contents_are_not_copied(admin_api, tree):
    coll, ct, fs, f = tree
    kept = upload(admin_api, fs, "kept.dcm", b"kept bytes")
    admin_api.ok(admin_api.delete(f"/resources/{f['id']}"))
    gone = fileset(admin_api, ct, "Gone")
    gone_file = upload(admin_api, gone, "g.dcm", b"gone bytes")
    admin_api.ok(admin_api.delete(f"/resources/{gone['id']}"))

    clone = admin_api.ok(copy(admin_api, [ct], folder(admin_api, coll, "Copies")), 201)[0]
    assert detail(admin_api, clone)["summary"] == {
        "size": len(b"kept bytes"),
        "files": 1,
        "filesets": 1,
        "folders": 0,
    }
    assert (ref_count(kept["sha256"]), ref_count(f["sha256"])) == (2, 1)
    assert ref_count(gone_file["sha256"]) == 1


def test_deleted_element_of_a_moved_folder_is_restored_at_the_new_place(admin_api, tree):
    coll, ct, fs, f = tree
    [item_id] = admin_api.ok(admin_api.delete(f"/resources/{f['id']}"))["trash_ids"]
    dest = folder(admin_api, coll, "Dest")
    admin_api.ok(
        admin_api.post("/resources/move", {"sources": [ct["id"]], "destination_id": dest["id"]})
    )
    restored = admin_api.ok(_restore(admin_api, item_id))
    assert restored["path"] == "/WP2/Dest/CT/Series/scan.dcm"
    assert [c["id"] for c in restored["breadcrumb"]] == [coll["id"], dest["id"], ct["id"], fs["id"]]


def _grant(api, node_id, entries):
    api.ok(api.put(f"/resources/{node_id}/acl", {"entries": entries}))


def test_deleting_a_folder_with_a_closed_subfolder_is_refused(admin_api, make_user, api_for):
    """Write access on a folder does not let one delete, unseen, what one may not change."""
    writer = make_user("writer")
    api = api_for(writer)
    coll = admin_api.ok(admin_api.post("/collections", {"name": "Guarded"}), 201)
    _grant(
        admin_api,
        coll["id"],
        [{"user": "root", "level": "admin"}, {"user": "writer", "level": "write"}],
    )
    parent = admin_api.ok(admin_api.post("/folders", {"parent_id": coll["id"], "name": "p"}), 201)
    closed = admin_api.ok(admin_api.post("/folders", {"parent_id": parent["id"], "name": "c"}), 201)
    _grant(admin_api, closed["id"], [{"user": "root", "level": "admin"}])
    response = api.delete(f"/resources/{parent['id']}")
    assert response.status_code == 403
    assert "may not change" in response.json()["detail"]
    assert admin_api.get(f"/resources/{closed['id']}").status_code == 200
    assert api.ok(api.get("/trash")) == []


def test_restore_and_purge_recheck_access(admin_api, make_user, api_for):
    """Someone who lost access after deleting may neither restore nor purge."""
    editor = make_user("editor")
    api = api_for(editor)
    coll = admin_api.ok(admin_api.post("/collections", {"name": "Revoked"}), 201)
    _grant(
        admin_api,
        coll["id"],
        [{"user": "root", "level": "admin"}, {"user": "editor", "level": "write"}],
    )
    folder = admin_api.ok(admin_api.post("/folders", {"parent_id": coll["id"], "name": "f"}), 201)
    item = api.ok(api.delete(f"/resources/{folder['id']}"))["trash_ids"][0]
    _grant(admin_api, coll["id"], [{"user": "root", "level": "admin"}])
    assert api.post(f"/trash/{item}/restore").status_code in (403, 404)
    assert api.delete(f"/trash/{item}").status_code == 403
    assert [t["id"] for t in api.ok(api.get("/trash"))] == [item]  # still there, nothing lost
