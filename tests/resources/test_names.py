"""Unicode names end to end, and the names that are refused."""

from __future__ import annotations

import unicodedata

import pytest

from tests.resources.helpers import (
    body_of,
    child_names,
    collection,
    detail,
    disposition_name,
    download,
    error,
    fileset,
    folder,
    lookup,
    send_file,
    upload,
)

NAMES = {
    "greek": "Αξονική τομογραφία εγκεφάλου",
    "polish": "Zażółć gęślą jaźń - badanie",
    "swedish": "Röntgenbilder för Åsa Öberg",
    "spanish": "Resonancia magnética del niño (año 2024)",
    "cjk": "脳のMRI画像 头部扫描 뇌 영상",
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_unicode_names_round_trip(admin_api, name):
    coll = collection(admin_api, name)
    d = folder(admin_api, coll, name)
    fs = fileset(admin_api, d, name)
    file_name = f"{name}.dcm"
    via_filename = upload(admin_api, fs, file_name, b"one")
    via_field = upload(admin_api, fs, "ignored.bin", b"two", name=f"{name}.txt")
    assert (via_filename["name"], via_field["name"]) == (file_name, f"{name}.txt")

    assert [c["name"] for c in admin_api.ok(admin_api.get("/collections"))["items"]] == [name]
    assert child_names(admin_api, coll) == [name]
    assert child_names(admin_api, d) == [name]
    assert child_names(admin_api, fs) == [file_name, f"{name}.txt"]

    path = f"/{name}/{name}/{name}/{file_name}"
    found = admin_api.ok(lookup(admin_api, path))
    assert (found["id"], found["path"]) == (via_filename["id"], path)
    assert [c["name"] for c in found["breadcrumb"]] == [name, name, name]

    response = download(admin_api, via_filename)
    assert body_of(response) == b"one"
    assert "filename*=utf-8''" in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment;")
    assert disposition_name(response) == file_name
    assert disposition_name(download(admin_api, via_field)) == f"{name}.txt"

    renamed = admin_api.ok(admin_api.patch(f"/resources/{d['id']}", {"name": f"{name} 2"}))
    assert renamed["name"] == f"{name} 2"
    assert admin_api.ok(lookup(admin_api, f"/{name}/{name} 2/{name}"))["id"] == fs["id"]


def test_ascii_download_name(admin_api):
    fs = fileset(admin_api, collection(admin_api, "WP2"), "S")
    f = upload(admin_api, fs, 'scan "1".dcm', b"x")
    header = download(admin_api, f)["Content-Disposition"]
    assert header == 'attachment; filename="scan \\"1\\".dcm"'


def test_nfd_names_are_stored_nfc(admin_api):
    nfc = "Cámara Ångström"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    coll = collection(admin_api, nfd)
    assert coll["name"] == nfc
    d = folder(admin_api, coll, nfd)
    fs = fileset(admin_api, d, "S")
    f = upload(admin_api, fs, f"{nfd}.txt", b"x")
    g = upload(admin_api, fs, "y", b"y", name=f"{nfd}.bin")
    assert (d["name"], f["name"], g["name"]) == (nfc, f"{nfc}.txt", f"{nfc}.bin")
    assert child_names(admin_api, fs) == [f"{nfc}.bin", f"{nfc}.txt"]

    # Either form finds it, and the two forms are one name.
    for form in (nfc, nfd):
        assert admin_api.ok(lookup(admin_api, f"/{form}/{form}"))["id"] == d["id"]
    assert (
        error(admin_api.post("/folders", {"parent_id": coll["id"], "name": nfc}), 409)["code"]
        == "name_taken"
    )
    renamed = admin_api.ok(admin_api.patch(f"/resources/{fs['id']}", {"name": nfd}))
    assert renamed["name"] == nfc
    assert disposition_name(download(admin_api, f)) == f"{nfc}.txt"


BAD_NAMES = [
    ("a/b", "'/'"),
    ("back\\slash", "'\\'"),
    ("nul\x00byte", "control characters"),
    ("tab\tname", "control characters"),
    ("   ", "only spaces"),
    ("", "empty"),
    (" padded ", "start or end with spaces"),
    ("..", "'..'"),
    ("é" * 128, "256 bytes"),
    ("脳" * 86, "258 bytes"),
]
BAD_IDS = ["slash", "backslash", "nul", "tab", "spaces", "empty", "padded", "dotdot", "long", "cjk"]


@pytest.mark.parametrize(("name", "problem"), BAD_NAMES, ids=BAD_IDS)
def test_bad_names_are_refused_everywhere(admin_api, name, problem):
    coll = collection(admin_api, "WP2")
    d = folder(admin_api, coll, "D")
    fs = fileset(admin_api, coll, "S")
    f = upload(admin_api, fs, "ok.txt", b"ok")
    attempts = [
        admin_api.post("/collections", {"name": name}),
        admin_api.post("/folders", {"parent_id": coll["id"], "name": name}),
        admin_api.post("/filesets", {"parent_id": d["id"], "name": name}),
        admin_api.patch(f"/resources/{d['id']}", {"name": name}),
        admin_api.patch(f"/resources/{f['id']}", {"name": name}),
        send_file(admin_api, fs["id"], "file.txt", b"x", name=name),
    ]
    if name:  # an empty form field means "not given": the fileset is named after the file
        attempts.append(send_file(admin_api, d["id"], "file.txt", b"x", fileset_name=name))
    for response in attempts:
        body = error(response, 400)
        assert body["code"] == "invalid_name"
        assert problem in body["detail"], body["detail"]
    assert child_names(admin_api, coll) == ["D", "S"]
    assert child_names(admin_api, d) == []
    assert child_names(admin_api, fs) == ["ok.txt"]
    assert detail(admin_api, d)["name"] == "D"


def test_longest_allowed_name(admin_api):
    coll = collection(admin_api, "WP2")
    name = "é" * 127 + "a"  # 255 bytes in UTF-8
    assert len(name.encode()) == 255
    assert folder(admin_api, coll, name)["name"] == name
    assert admin_api.ok(lookup(admin_api, f"/WP2/{name}"))["name"] == name


def test_reserved_collection_names(admin_api):
    body = error(admin_api.post("/collections", {"name": "~alice"}), 400)
    assert "reserved" in body["detail"]
