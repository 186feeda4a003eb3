"""Creating, editing, listing and finding tree elements through the REST API."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import Api
from tests.resources.helpers import (
    child_names,
    children,
    collection,
    detail,
    error,
    fileset,
    folder,
    lookup,
    set_acl,
    upload,
)


def test_create_collection_folder_and_fileset(admin_api):
    coll = collection(admin_api, "WP2", description="Work package 2")
    assert coll["kind"] == "collection"
    assert coll["parent_id"] is None
    assert coll["path"] == "/WP2"
    assert coll["breadcrumb"] == []
    assert coll["description"] == "Work package 2"
    assert coll["access"] == "admin"
    assert coll["has_own_acl"] is True
    assert coll["creator"] == "root"

    ct = folder(admin_api, coll, "CT", description="scans")
    assert (ct["kind"], ct["parent_id"], ct["path"]) == ("folder", coll["id"], "/WP2/CT")
    assert ct["breadcrumb"] == [{"id": coll["id"], "kind": "collection", "name": "WP2"}]
    assert ct["has_own_acl"] is False

    series = fileset(admin_api, ct, "Series 1")
    assert (series["kind"], series["path"]) == ("fileset", "/WP2/CT/Series 1")
    assert [c["name"] for c in series["breadcrumb"]] == ["WP2", "CT"]
    assert detail(admin_api, series) == series


def test_same_name_in_one_place_is_refused(admin_api):
    coll = collection(admin_api, "WP2")
    folder(admin_api, coll, "CT")
    body = error(admin_api.post("/folders", {"parent_id": coll["id"], "name": "CT"}), 409)
    assert body["code"] == "name_taken"
    assert "'CT'" in body["detail"]
    error(admin_api.post("/filesets", {"parent_id": coll["id"], "name": "CT"}), 409)
    error(admin_api.post("/collections", {"name": "WP2"}), 409)
    # The same name elsewhere is fine.
    other = folder(admin_api, coll, "MR")
    folder(admin_api, other, "CT")


def test_only_containers_hold_folders_and_filesets(admin_api):
    coll = collection(admin_api, "WP2")
    series = fileset(admin_api, coll, "Series")
    for kind in ("folders", "filesets"):
        body = error(admin_api.post(f"/{kind}", {"parent_id": series["id"], "name": "x"}), 400)
        assert body["code"] == "not_a_container"
        assert "fileset" in body["detail"]


def test_rename_and_describe(admin_api):
    coll = collection(admin_api, "WP2")
    ct = folder(admin_api, coll, "CT")
    fs = fileset(admin_api, ct, "Series")
    f = upload(admin_api, fs, "a.txt", b"abc")

    renamed = admin_api.ok(admin_api.patch(f"/resources/{ct['id']}", {"name": "CT scans"}))
    assert renamed["name"] == "CT scans"
    assert renamed["description"] == ""
    described = admin_api.ok(admin_api.patch(f"/resources/{ct['id']}", {"description": "Axial"}))
    assert (described["name"], described["description"]) == ("CT scans", "Axial")

    # Descendants follow the new name; the old path is gone.
    assert admin_api.ok(lookup(admin_api, "/WP2/CT scans/Series/a.txt"))["id"] == f["id"]
    assert detail(admin_api, f)["path"] == "/WP2/CT scans/Series/a.txt"
    error(lookup(admin_api, "/WP2/CT/Series/a.txt"), 404)

    # Files and collections are renamed the same way.
    admin_api.ok(admin_api.patch(f"/resources/{f['id']}", {"name": "b.txt"}))
    admin_api.ok(admin_api.patch(f"/resources/{coll['id']}", {"name": "WP-2"}))
    assert admin_api.ok(lookup(admin_api, "/WP-2/CT scans/Series/b.txt"))["id"] == f["id"]

    # A name taken in the same place is refused and nothing changes.
    folder(admin_api, coll, "MR")
    body = error(admin_api.patch(f"/resources/{ct['id']}", {"name": "MR"}), 409)
    assert body["code"] == "name_taken"
    assert detail(admin_api, ct)["name"] == "CT scans"


def test_renaming_needs_write_access(admin_api, make_user, api_for):
    coll = collection(admin_api, "WP2")
    ct = folder(admin_api, coll, "CT")
    reader = api_for(make_user("reader"))
    set_acl(admin_api, coll, {"root": "admin", "reader": "read"})
    assert reader.ok(reader.get(f"/resources/{ct['id']}"))["access"] == "read"
    error(reader.patch(f"/resources/{ct['id']}", {"name": "X"}), 403)
    assert detail(admin_api, ct)["name"] == "CT"


def test_children_are_paginated_with_a_total(admin_api):
    coll = collection(admin_api, "WP2")
    names = [f"f{i:02d}" for i in range(7)]
    for name in names:
        folder(admin_api, coll, name)

    seen = []
    for offset in (0, 3, 6):
        page = children(admin_api, coll, offset=offset, limit=3)
        assert (page["total"], page["offset"], page["limit"]) == (7, offset, 3)
        seen += [item["name"] for item in page["items"]]
    assert seen == names

    past_end = children(admin_api, coll, offset=10, limit=3)
    assert (past_end["items"], past_end["total"]) == ([], 7)
    exact = children(admin_api, coll, offset=0, limit=7)
    assert (len(exact["items"]), exact["total"]) == (7, 7)
    assert admin_api.get(f"/resources/{coll['id']}/children", limit=0).status_code == 422


def test_children_sorted_by_name_folders_before_filesets(admin_api):
    coll = collection(admin_api, "WP2")
    for name in ("gamma", "Alpha", "beta"):
        fileset(admin_api, coll, f"set {name}")
        folder(admin_api, coll, name)

    assert child_names(admin_api, coll) == [
        "Alpha",
        "beta",
        "gamma",
        "set Alpha",
        "set beta",
        "set gamma",
    ]
    assert child_names(admin_api, coll, sort="name", order="desc") == [
        "gamma",
        "beta",
        "Alpha",
        "set gamma",
        "set beta",
        "set Alpha",
    ]
    kinds = [i["kind"] for i in children(admin_api, coll, order="desc")["items"]]
    assert kinds == ["folder"] * 3 + ["fileset"] * 3


def test_children_sorted_by_size(admin_api):
    coll = collection(admin_api, "WP2")
    series = fileset(admin_api, coll, "Series")
    for name, size in (("mid", 20), ("big", 300), ("small", 1)):
        upload(admin_api, series, f"{name}.bin", b"z" * size)
    assert child_names(admin_api, series, sort="size") == ["small.bin", "mid.bin", "big.bin"]
    assert child_names(admin_api, series, sort="size", order="desc") == [
        "big.bin",
        "mid.bin",
        "small.bin",
    ]

    # Filesets are listed with the total size of their files, and sorted by it.
    for name, size in (("light", 10), ("heavy", 500), ("medium", 100)):
        holder = fileset(admin_api, coll, name)
        upload(admin_api, holder, "data.bin", b"y" * size)
    folder(admin_api, coll, "zz folder")
    page = children(admin_api, coll, sort="size", limit=1000)["items"]
    sizes = {i["name"]: (i["size"], i["file_count"]) for i in page}
    assert sizes["heavy"] == (500, 1)
    assert sizes["Series"] == (321, 3)
    assert [i["name"] for i in page] == ["zz folder", "light", "medium", "Series", "heavy"]
    assert child_names(admin_api, coll, sort="size", order="desc") == [
        "zz folder",
        "heavy",
        "Series",
        "medium",
        "light",
    ]


def test_children_sorted_by_created_and_updated(admin_api):
    coll = collection(admin_api, "WP2")
    first = fileset(admin_api, coll, "b-first")
    fileset(admin_api, coll, "c-second")
    fileset(admin_api, coll, "a-third")
    assert child_names(admin_api, coll, sort="created") == ["b-first", "c-second", "a-third"]
    assert child_names(admin_api, coll, sort="created", order="desc") == [
        "a-third",
        "c-second",
        "b-first",
    ]
    admin_api.ok(admin_api.patch(f"/resources/{first['id']}", {"description": "touched"}))
    assert child_names(admin_api, coll, sort="updated", order="desc")[0] == "b-first"
    assert child_names(admin_api, coll, sort="updated")[-1] == "b-first"


def test_unknown_sort_is_refused(admin_api):
    coll = collection(admin_api, "WP2")
    response = admin_api.get(f"/resources/{coll['id']}/children", sort="colour")
    assert response.status_code in (400, 422)
    response = admin_api.get(f"/resources/{coll['id']}/children", order="up")
    assert response.status_code in (400, 422)


def test_lookup_by_path(admin_api):
    coll = collection(admin_api, "Ensayo Ñandú")
    d1 = folder(admin_api, coll, "Κεφαλή")
    d2 = folder(admin_api, d1, "脳 MRI")
    fs = fileset(admin_api, d2, "Serie 1")
    f = upload(admin_api, fs, "łódź.dcm", b"dicom")

    path = "/Ensayo Ñandú/Κεφαλή/脳 MRI/Serie 1/łódź.dcm"
    found = admin_api.ok(lookup(admin_api, path))
    assert (found["id"], found["path"], found["kind"]) == (f["id"], path, "file")
    assert [c["name"] for c in found["breadcrumb"]] == [
        "Ensayo Ñandú",
        "Κεφαλή",
        "脳 MRI",
        "Serie 1",
    ]
    assert admin_api.ok(lookup(admin_api, "/Ensayo Ñandú"))["id"] == coll["id"]
    assert admin_api.ok(lookup(admin_api, "/Ensayo Ñandú/Κεφαλή/"))["id"] == d1["id"]

    error(lookup(admin_api, "/Ensayo Ñandú/Κεφαλή/nothing"), 404)
    error(lookup(admin_api, "/Nope"), 404)
    # Names are matched exactly, not case-insensitively.
    error(lookup(admin_api, "/ensayo ñandú"), 404)
    assert error(lookup(admin_api, "Ensayo Ñandú"), 400)["code"] == "invalid_path"
    assert error(lookup(admin_api, "/"), 400)["code"] == "invalid_path"


def test_lookup_of_hidden_elements_looks_like_missing(admin_api, make_user, api_for):
    secret = collection(admin_api, "Secret")
    folder(admin_api, secret, "Inside")
    outsider = api_for(make_user("outsider"))
    hidden = error(lookup(outsider, "/Secret/Inside"), 404)
    missing = error(lookup(outsider, "/Secret/Nothing"), 404)
    assert hidden["code"] == missing["code"] == "resource_not_found"


def test_lookup_with_control_characters_is_not_a_server_error(admin_api):
    collection(admin_api, "WP2")
    assert error(lookup(admin_api, "/WP2/a\x00b"), 400)["code"] == "invalid_path"
    # Other control characters cannot be in any name, so nothing is there.
    assert error(lookup(admin_api, "/WP2/a\tb"), 404)["code"] == "resource_not_found"


def test_detail_summarises_the_subtree(admin_api):
    coll = collection(admin_api, "WP2")
    ct = folder(admin_api, coll, "CT")
    sub = folder(admin_api, ct, "Sub")
    s1 = fileset(admin_api, ct, "S1")
    s2 = fileset(admin_api, sub, "S2")
    upload(admin_api, s1, "a", b"1" * 10)
    upload(admin_api, s1, "b", b"2" * 20)
    f = upload(admin_api, s2, "c", b"3" * 5)

    assert detail(admin_api, coll)["summary"] == {
        "size": 35,
        "files": 3,
        "filesets": 2,
        "folders": 2,
    }
    assert detail(admin_api, ct)["summary"] == {"size": 35, "files": 3, "filesets": 2, "folders": 1}
    assert detail(admin_api, s1)["summary"] == {"size": 30, "files": 2, "filesets": 0, "folders": 0}
    assert detail(admin_api, f)["summary"] == {"size": 5, "files": 1, "filesets": 0, "folders": 0}
    assert detail(admin_api, f)["size"] == 5
    # Listing shows each fileset's total size and file count.
    listed = {i["name"]: i for i in children(admin_api, ct)["items"]}
    assert (listed["S1"]["size"], listed["S1"]["file_count"]) == (30, 2)


def _fill(api: Api, parent: dict[str, Any], count: int) -> None:
    for i in range(count // 2):
        folder(api, parent, f"folder {i:03d}")
    for i in range(count - count // 2):
        fs = fileset(api, parent, f"set {i:03d}")
        upload(api, fs, "f.bin", b"%d" % i)


@pytest.mark.parametrize("as_member", [False, True], ids=["site-admin", "member"])
def test_listing_children_does_a_fixed_number_of_queries(
    admin_api, make_user, api_for, django_assert_max_num_queries, as_member
):
    small = collection(admin_api, "Small")
    big = collection(admin_api, "Big")
    _fill(admin_api, small, 4)
    _fill(admin_api, big, 50)
    api = admin_api
    if as_member:
        api = api_for(make_user("member"))
        for coll in (small, big):
            set_acl(admin_api, coll, {"root": "admin", "member": "read"})

    # Both pages are full, so both count the total.
    with CaptureQueriesContext(connection) as few:
        assert children(api, small, limit=3)["total"] == 4
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = children(api, big, limit=50)
    assert len(page["items"]) == 50
    assert all(item["creator"] == "root" for item in page["items"])
    assert {i["file_count"] for i in page["items"] if i["kind"] == "fileset"} == {1}


def test_descriptions_keep_text_but_refuse_nul(admin_api):
    coll = collection(admin_api, "WP2")
    text = "Línea 1\nLínea 2\twith a tab — 脳"
    d = folder(admin_api, coll, "CT", description=text)
    assert detail(admin_api, d)["description"] == text
    for response in (
        admin_api.patch(f"/resources/{d['id']}", {"description": "a\x00b"}),
        admin_api.post("/folders", {"parent_id": coll["id"], "name": "X", "description": "\x00"}),
        admin_api.post("/collections", {"name": "Y", "description": "\x00"}),
    ):
        assert error(response, 400)["code"] == "invalid_description"
    assert detail(admin_api, d)["description"] == text


def test_listing_shows_and_counts_only_what_the_reader_may_see(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    coll = collection(admin_api, "WP2")
    set_acl(admin_api, coll, {"root": "admin", "bob": "read"})
    for name in ("a", "b", "c"):
        folder(admin_api, coll, name)
    private = folder(admin_api, coll, "private")
    set_acl(admin_api, private, {"root": "admin"})

    page = children(bob, coll, limit=2)
    assert (page["total"], [i["name"] for i in page["items"]]) == (3, ["a", "b"])
    assert child_names(bob, coll) == ["a", "b", "c"]
    assert children(admin_api, coll)["total"] == 4
    error(bob.get(f"/resources/{private['id']}/children"), 404)
    assert [c["name"] for c in bob.ok(bob.get("/collections"))["items"]] == ["WP2"]
