"""Copying and moving elements and selections (placement rules, all-or-nothing, no byte copies,
ancestry and permissions of moved subtrees)."""

from __future__ import annotations

from typing import Any

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
    move,
    ref_count,
    set_acl,
    upload,
)


def _tree(api: Api) -> tuple[dict[str, Any], ...]:
    coll = collection(api, "WP2")
    src = fileset(api, coll, "Source")
    dst = fileset(api, coll, "Target")
    return coll, src, dst


# --- files between filesets ------------------------------------------------------------------


def test_move_file_between_filesets(admin_api):
    _coll, src, dst = _tree(admin_api)
    f = upload(admin_api, src, "a.dcm", b"AAA")
    moved = admin_api.ok(move(admin_api, [f], dst))
    assert [(m["id"], m["parent_id"]) for m in moved] == [(f["id"], dst["id"])]
    assert child_names(admin_api, src) == []
    assert child_names(admin_api, dst) == ["a.dcm"]
    assert admin_api.ok(lookup(admin_api, "/WP2/Target/a.dcm"))["id"] == f["id"]
    error(lookup(admin_api, "/WP2/Source/a.dcm"), 404)
    assert body_of(download(admin_api, f)) == b"AAA"


def test_copy_file_between_filesets_shares_the_bytes(admin_api):
    _coll, src, dst = _tree(admin_api)
    f = upload(admin_api, src, "a.dcm", b"unique bytes for copy")
    stored = blob_files()
    assert ref_count(f["sha256"]) == 1

    copies = admin_api.ok(copy(admin_api, [f], dst), 201)
    assert len(copies) == 1
    twin = detail(admin_api, copies[0]["id"])
    assert twin["id"] != f["id"]
    assert (twin["name"], twin["parent_id"], twin["size"]) == ("a.dcm", dst["id"], f["size"])
    assert twin["sha256"] == f["sha256"]
    assert blob_files() == stored  # no byte was copied
    assert ref_count(f["sha256"]) == 2
    assert child_names(admin_api, src) == ["a.dcm"]
    assert body_of(download(admin_api, twin)) == b"unique bytes for copy"


def test_copy_keeps_description_metadata_and_identifier(admin_api):
    _coll, src, dst = _tree(admin_api)
    f = upload(admin_api, src, "a.dcm", b"A", sinfonia_id="SINFONIA-T2.1-SERGAS-0042")
    admin_api.ok(admin_api.patch(f"/resources/{f['id']}", {"description": "axial"}))
    admin_api.ok(admin_api.patch(f"/resources/{f['id']}/metadata", {"slice": 3}))
    twin = detail(admin_api, admin_api.ok(copy(admin_api, [f], dst), 201)[0]["id"])
    assert twin["description"] == "axial"
    assert twin["meta"] == {"slice": 3}
    assert twin["sinfonia_id"] == "SINFONIA-T2.1-SERGAS-0042"


# --- filesets and folders ---------------------------------------------------------------------


def test_move_fileset_into_folder(admin_api):
    coll, src, _ = _tree(admin_api)
    upload(admin_api, src, "a", b"1")
    upload(admin_api, src, "b", b"2")
    dest = folder(admin_api, coll, "Dest")
    admin_api.ok(move(admin_api, [src], dest))
    assert child_names(admin_api, dest) == ["Source"]
    assert admin_api.ok(lookup(admin_api, "/WP2/Dest/Source/b"))["kind"] == "file"
    assert detail(admin_api, dest)["summary"]["files"] == 2


def test_copy_fileset_into_folder_adds_references_not_bytes(admin_api):
    coll, src, _ = _tree(admin_api)
    a = upload(admin_api, src, "a", b"first file")
    b = upload(admin_api, src, "b", b"second file")
    dest = folder(admin_api, coll, "Dest")
    stored = blob_files()

    top = admin_api.ok(copy(admin_api, [src], dest), 201)[0]
    assert (top["kind"], top["name"], top["parent_id"]) == ("fileset", "Source", dest["id"])
    assert top["id"] != src["id"]
    assert child_names(admin_api, top) == ["a", "b"]
    copied_a = admin_api.ok(lookup(admin_api, "/WP2/Dest/Source/a"))
    assert copied_a["id"] != a["id"]
    assert copied_a["sha256"] == a["sha256"]
    assert blob_files() == stored
    assert (ref_count(a["sha256"]), ref_count(b["sha256"])) == (2, 2)
    # The original is untouched.
    assert child_names(admin_api, src) == ["a", "b"]


def test_copy_folder_subtree(admin_api):
    coll = collection(admin_api, "WP2")
    top = folder(admin_api, coll, "Study")
    sub = folder(admin_api, top, "Sub")
    fs = fileset(admin_api, sub, "S")
    f = upload(admin_api, fs, "x.bin", b"xx")
    dest = folder(admin_api, coll, "Archive")

    clone = admin_api.ok(copy(admin_api, [top], dest), 201)[0]
    assert detail(admin_api, clone)["summary"] == {
        "size": 2,
        "files": 1,
        "filesets": 1,
        "folders": 1,
    }
    deep = admin_api.ok(lookup(admin_api, "/WP2/Archive/Study/Sub/S/x.bin"))
    assert deep["id"] != f["id"]
    assert [c["name"] for c in deep["breadcrumb"]] == ["WP2", "Archive", "Study", "Sub", "S"]
    assert ref_count(f["sha256"]) == 2
    # Changing the copy leaves the original alone.
    admin_api.ok(admin_api.patch(f"/resources/{deep['id']}", {"name": "y.bin"}))
    assert child_names(admin_api, fs) == ["x.bin"]


def test_file_into_folder_gets_a_fileset_named_after_it(admin_api):
    coll, src, _ = _tree(admin_api)
    a = upload(admin_api, src, "a.dcm", b"A")
    b = upload(admin_api, src, "b.dcm", b"B")
    dest = folder(admin_api, coll, "Dest")

    admin_api.ok(move(admin_api, [a], dest))
    holder = admin_api.ok(lookup(admin_api, "/WP2/Dest/a.dcm"))
    assert holder["kind"] == "fileset"
    assert child_names(admin_api, holder) == ["a.dcm"]
    assert detail(admin_api, a)["parent_id"] == holder["id"]

    clone = admin_api.ok(copy(admin_api, [b], dest), 201)[0]
    holder_b = admin_api.ok(lookup(admin_api, "/WP2/Dest/b.dcm"))
    assert holder_b["kind"] == "fileset"
    assert clone["parent_id"] == holder_b["id"]
    assert child_names(admin_api, dest) == ["a.dcm", "b.dcm"]
    assert child_names(admin_api, src) == ["b.dcm"]


def test_folder_into_fileset_is_refused(admin_api):
    coll, _, dst = _tree(admin_api)
    d = folder(admin_api, coll, "Folder")
    for op in (move, copy):
        body = error(op(admin_api, [d], dst), 400)
        assert body["code"] == "wrong_destination"
        assert "holds files only" in body["detail"]
        assert "'Folder'" in body["detail"]
    assert detail(admin_api, d)["parent_id"] == coll["id"]
    assert child_names(admin_api, dst) == []


def test_fileset_into_fileset_and_anything_into_file_are_refused(admin_api):
    _coll, src, dst = _tree(admin_api)
    f = upload(admin_api, dst, "f", b"f")
    assert error(move(admin_api, [src], dst), 400)["code"] == "wrong_destination"
    body = error(copy(admin_api, [src], f), 400)
    assert body["code"] == "wrong_destination"
    assert "is a file" in body["detail"]


def test_collections_cannot_be_moved_or_copied(admin_api):
    a = collection(admin_api, "A")
    b = collection(admin_api, "B")
    dest = folder(admin_api, b, "Dest")
    for op in (move, copy):
        body = error(op(admin_api, [a], dest), 400)
        assert body["code"] == "collection_cannot_move"
        assert "collection" in body["detail"]
    assert detail(admin_api, a)["parent_id"] is None


def test_moving_a_folder_into_itself_or_its_descendant_is_a_cycle(admin_api):
    coll = collection(admin_api, "WP2")
    top = folder(admin_api, coll, "Top")
    mid = folder(admin_api, top, "Mid")
    low = folder(admin_api, mid, "Low")
    for dest in (top, mid, low):
        body = error(move(admin_api, [top], dest), 409)
        assert body["code"] == "move_into_itself"
        assert "itself" in body["detail"]
    assert error(copy(admin_api, [top], low), 409)["code"] == "move_into_itself"
    assert detail(admin_api, low)["path"] == "/WP2/Top/Mid/Low"
    assert detail(admin_api, top)["parent_id"] == coll["id"]


# --- selections: all or nothing ---------------------------------------------------------------


def test_name_clash_refuses_the_whole_selection(admin_api):
    coll = collection(admin_api, "WP2")
    d1 = folder(admin_api, coll, "one")
    d2 = folder(admin_api, coll, "two")
    s = fileset(admin_api, coll, "three")
    dest = folder(admin_api, coll, "Dest")
    folder(admin_api, dest, "two")  # clashes with the second element only
    stored = blob_files()

    for op in (move, copy):
        body = error(op(admin_api, [d1, d2, s], dest), 409)
        assert body["code"] == "name_taken"
        assert "'two'" in body["detail"]
    assert child_names(admin_api, dest) == ["two"]
    assert child_names(admin_api, coll) == ["Dest", "one", "two", "three"]
    assert blob_files() == stored


def test_two_elements_of_one_name_cannot_land_in_one_place(admin_api):
    coll = collection(admin_api, "WP2")
    s1 = fileset(admin_api, coll, "S1")
    s2 = fileset(admin_api, coll, "S2")
    dest = fileset(admin_api, coll, "Dest")
    a1 = upload(admin_api, s1, "same.dcm", b"1")
    a2 = upload(admin_api, s2, "same.dcm", b"2")
    body = error(move(admin_api, [a1, a2], dest), 409)
    assert body["code"] == "name_taken"
    assert "same.dcm" in body["detail"]
    assert child_names(admin_api, dest) == []
    assert detail(admin_api, a1)["parent_id"] == s1["id"]


def test_one_refused_element_refuses_the_whole_selection(admin_api):
    coll, src, dst = _tree(admin_api)
    f = upload(admin_api, src, "f", b"f")
    d = folder(admin_api, coll, "Folder")
    before = ref_count(f["sha256"])
    for op in (move, copy):
        assert error(op(admin_api, [f, d], dst), 400)["code"] == "wrong_destination"
    assert child_names(admin_api, dst) == []
    assert child_names(admin_api, src) == ["f"]
    assert ref_count(f["sha256"]) == before


def test_missing_element_refuses_the_whole_selection(admin_api):
    _coll, src, dst = _tree(admin_api)
    f = upload(admin_api, src, "f", b"f")
    response = admin_api.post(
        "/resources/move", {"sources": [f["id"], 999_999], "destination_id": dst["id"]}
    )
    assert error(response, 404)["code"] == "resource_not_found"
    assert child_names(admin_api, src) == ["f"]


def test_mixed_selection_into_a_folder(admin_api):
    coll, src, _ = _tree(admin_api)
    f = upload(admin_api, src, "loose.dcm", b"L")
    d = folder(admin_api, coll, "Folder")
    fs = fileset(admin_api, coll, "Set")
    dest = folder(admin_api, collection(admin_api, "Other"), "Dest")

    copies = admin_api.ok(copy(admin_api, [f, d, fs], dest), 201)
    assert [c["kind"] for c in copies] == ["file", "folder", "fileset"]
    assert child_names(admin_api, dest) == ["Folder", "loose.dcm", "Set"]

    dest2 = folder(admin_api, coll, "Dest2")
    moved = admin_api.ok(move(admin_api, [f, d, fs], dest2))
    assert {m["id"] for m in moved} == {f["id"], d["id"], fs["id"]}
    assert child_names(admin_api, dest2) == ["Folder", "loose.dcm", "Set"]
    assert admin_api.ok(lookup(admin_api, "/WP2/Dest2/loose.dcm/loose.dcm"))["id"] == f["id"]


def test_moving_into_the_current_place_changes_nothing(admin_api):
    _coll, src, _ = _tree(admin_api)
    f = upload(admin_api, src, "f", b"f")
    assert admin_api.ok(move(admin_api, [f], src)) == []
    assert child_names(admin_api, src) == ["f"]


# --- moving subtrees --------------------------------------------------------------------------


def _deep(api: Api, coll: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    a = folder(api, coll, "A")
    b = folder(api, a, "B")
    c = folder(api, b, "C")
    fs = fileset(api, c, "FS")
    f = upload(api, fs, "deep.bin", b"deep")
    return a, b, c, fs, f


def test_moved_subtree_stays_reachable_at_its_new_path(admin_api):
    coll = collection(admin_api, "WP2")
    a, b, c, fs, f = _deep(admin_api, coll)
    other = collection(admin_api, "Other")
    dest = folder(admin_api, other, "X")

    admin_api.ok(move(admin_api, [a], dest))
    error(lookup(admin_api, "/WP2/A/B/C/FS/deep.bin"), 404)
    found = admin_api.ok(lookup(admin_api, "/Other/X/A/B/C/FS/deep.bin"))
    assert found["id"] == f["id"]
    assert found["path"] == "/Other/X/A/B/C/FS/deep.bin"
    assert [n["id"] for n in found["breadcrumb"]] == [
        other["id"],
        dest["id"],
        a["id"],
        b["id"],
        c["id"],
        fs["id"],
    ]
    assert child_names(admin_api, c) == ["FS"]
    assert child_names(admin_api, fs) == ["deep.bin"]
    # Summaries follow the subtree.
    assert detail(admin_api, dest)["summary"] == {
        "size": 4,
        "files": 1,
        "filesets": 1,
        "folders": 3,
    }
    assert detail(admin_api, coll)["summary"]["files"] == 0
    # ... and so does deleting: trashing the new ancestor hides the deep file.
    admin_api.ok(admin_api.delete(f"/resources/{dest['id']}"))
    error(admin_api.get(f"/resources/{f['id']}"), 404)

    # Moving a middle part again keeps the chain consistent.
    admin_api.ok(admin_api.post(f"/trash/{admin_api.ok(admin_api.get('/trash'))[0]['id']}/restore"))
    admin_api.ok(move(admin_api, [c], coll))
    assert admin_api.ok(lookup(admin_api, "/WP2/C/FS/deep.bin"))["id"] == f["id"]
    assert detail(admin_api, b)["summary"]["files"] == 0
    assert detail(admin_api, coll)["summary"]["files"] == 1


def test_moving_a_folder_together_with_something_inside_it(admin_api):
    coll = collection(admin_api, "WP2")
    a, b, c, _fs, f = _deep(admin_api, coll)
    dest = folder(admin_api, coll, "Dest")

    admin_api.ok(move(admin_api, [a, c], dest))
    assert child_names(admin_api, dest) == ["A", "C"]
    assert child_names(admin_api, b) == []
    found = admin_api.ok(lookup(admin_api, "/WP2/Dest/C/FS/deep.bin"))
    assert found["id"] == f["id"]
    assert [n["name"] for n in found["breadcrumb"]] == ["WP2", "Dest", "C", "FS"]
    assert detail(admin_api, a)["summary"] == {"size": 0, "files": 0, "filesets": 0, "folders": 1}
    assert detail(admin_api, dest)["summary"]["files"] == 1
    # Deleting A must not take C's contents with it.
    admin_api.ok(admin_api.delete(f"/resources/{a['id']}"))
    assert body_of(download(admin_api, f)) == b"deep"


# --- access -------------------------------------------------------------------------------


def test_copy_needs_write_access_at_the_destination(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    coll, src, dst = _tree(admin_api)
    f = upload(admin_api, src, "f", b"f")
    set_acl(admin_api, coll, {"root": "admin", "bob": "read"})
    assert error(copy(bob, [f], dst), 403)["code"] == "permission_denied"
    assert error(move(bob, [f], dst), 403)["code"] == "permission_denied"
    assert child_names(admin_api, dst) == []
