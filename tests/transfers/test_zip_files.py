"""ZIP files kept in the repository: table of contents, extraction with its safety checks."""

from __future__ import annotations

import io
import stat
import zipfile
from urllib.parse import quote

import pytest

from sinfonia.transfers.services.operations import run_pending


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.fixture
def world(admin_api):
    return admin_api.ok(admin_api.post("/collections", {"name": "PACS exports"}), 201)


def _lookup(path: str) -> str:
    return "/resource/lookup?path=" + quote(path)


def _upload_zip(api, parent_id, name, data):
    return api.ok(api.upload(parent_id, name, data), 201)


def _extract(api, file_id, destination_id, **body):
    op = api.ok(
        api.post(f"/files/{file_id}/zip/extract", {"destination_id": destination_id, **body}), 202
    )
    assert op["status"] == "queued"
    assert run_pending() == 1
    return api.ok(api.get(f"/operations/{op['id']}"))


def test_table_of_contents_lists_members_without_extracting(admin_api, world):
    data = _zip({"DICOM/IMG0001.dcm": b"a" * 100, "DICOMDIR": b"d", "report.pdf": b"%PDF"})
    f = _upload_zip(admin_api, world["id"], "export.zip", data)
    toc = admin_api.ok(admin_api.get(f"/files/{f['id']}/zip"))
    assert {e["name"] for e in toc} == {"DICOM/IMG0001.dcm", "DICOMDIR", "report.pdf"}
    assert next(e for e in toc if e["name"] == "DICOM/IMG0001.dcm")["size"] == 100
    # nothing was extracted
    children = admin_api.ok(admin_api.get(f"/resources/{world['id']}/children"))
    assert [c["name"] for c in children["items"]] == ["export.zip"]


def test_not_a_zip_is_a_clear_error(admin_api, world):
    f = _upload_zip(admin_api, world["id"], "fake.zip", b"not a zip at all")
    response = admin_api.get(f"/files/{f['id']}/zip")
    assert response.status_code == 400
    assert "not a readable ZIP" in response.json()["detail"]


def test_extraction_builds_the_tree_and_reports_progress(admin_api, world):
    members = {
        "Patient 1/Στudy/IMG1.dcm": b"x" * 5000,
        "Patient 1/Στudy/IMG2.dcm": b"y" * 7000,
        "Patient 1/notes.txt": "zażółć".encode(),
        "empty/": b"",
    }
    f = _upload_zip(admin_api, world["id"], "export.zip", _zip(members))
    op = _extract(admin_api, f["id"], world["id"])
    assert op["status"] == "done", op
    assert op["done"] == op["total"] == 5000 + 7000 + len("zażółć".encode())
    assert op["result"]["files"] == 3 and op["result"]["skipped"] == []
    img = admin_api.ok(admin_api.get(_lookup("/PACS exports/export/Patient 1/Στudy/IMG2.dcm")))
    assert img["kind"] == "fileset"
    download = admin_api.get(f"/files/{img['id'] + 1}/download")
    assert b"".join(download.streaming_content) == b"y" * 7000


def test_dangerous_members_are_skipped_with_reasons(admin_api, world, settings):
    settings.SINFONIA_ZIP_MAX_RATIO = 50
    data = _zip(
        {
            "../../etc/evil.txt": b"escape",
            "/abs/path.txt": b"abs",
            "ok/good.txt": b"good",
            "bomb.bin": b"\0" * (4 * 1024 * 1024),  # deflates ~1000:1
            "bad\x01name.txt": b"control character",
        },
        symlink="ok/link",
    )
    f = _upload_zip(admin_api, world["id"], "mixed.zip", data)
    op = _extract(admin_api, f["id"], world["id"], folder_name="mixed")
    assert op["status"] == "done", op
    reasons = {s["name"]: s["reason"] for s in op["result"]["skipped"]}
    assert "traversal" in reasons["../../etc/evil.txt"]
    assert "absolute" in reasons["/abs/path.txt"]
    assert "symbolic link" in reasons["ok/link"]
    assert "zip bomb" in reasons["bomb.bin"]
    assert "control characters" in reasons["bad\x01name.txt"]
    assert op["result"]["files"] == 1
    listing = admin_api.ok(admin_api.get(_lookup("/PACS exports/mixed/ok")))
    assert listing["summary"]["files"] == 1


def test_encrypted_members_are_skipped():
    from sinfonia.transfers.services.zips import _refusal

    info = zipfile.ZipInfo("secret.txt")
    info.flag_bits |= 0x1
    assert _refusal(info) == "encrypted member"


def test_archive_over_the_total_limit_is_refused_before_queueing(admin_api, world, settings):
    settings.SINFONIA_ZIP_MAX_TOTAL = 1000
    f = _upload_zip(admin_api, world["id"], "big.zip", _zip({"a.bin": b"a" * 2000}))
    response = admin_api.post(f"/files/{f['id']}/zip/extract", {"destination_id": world["id"]})
    assert response.status_code == 413
    assert "limit is 1000" in response.json()["detail"]


def test_extraction_needs_write_access_on_the_destination(admin_api, world, make_user, api_for):
    f = _upload_zip(admin_api, world["id"], "export.zip", _zip({"a.txt": b"a"}))
    reader = make_user("reader")
    admin_api.ok(
        admin_api.put(
            f"/resources/{world['id']}/acl",
            {"entries": [{"user": "root", "level": "admin"}, {"user": "reader", "level": "read"}]},
        )
    )
    api = api_for(reader)
    assert api.ok(api.get(f"/files/{f['id']}/zip"))  # reading the contents is fine
    response = api.post(f"/files/{f['id']}/zip/extract", {"destination_id": world["id"]})
    assert response.status_code == 403


def test_operations_are_private_to_their_owner(admin_api, world, make_user, api_for):
    f = _upload_zip(admin_api, world["id"], "export.zip", _zip({"a.txt": b"a"}))
    op = admin_api.ok(
        admin_api.post(f"/files/{f['id']}/zip/extract", {"destination_id": world["id"]}), 202
    )
    stranger = api_for(make_user("stranger"))
    assert stranger.get(f"/operations/{op['id']}").status_code == 404
    assert stranger.ok(stranger.get("/operations")) == []


def test_large_copy_runs_in_the_background(admin_api, world):
    folder = admin_api.ok(
        admin_api.post("/folders", {"parent_id": world["id"], "name": "src"}), 201
    )
    for i in range(5):
        admin_api.ok(admin_api.upload(folder["id"], f"f{i}.txt", b"%d" % i), 201)
    dest = admin_api.ok(admin_api.post("/folders", {"parent_id": world["id"], "name": "dst"}), 201)
    op = admin_api.ok(
        admin_api.post(
            "/resources/copy/background", {"sources": [folder["id"]], "destination_id": dest["id"]}
        ),
        202,
    )
    run_pending()
    op = admin_api.ok(admin_api.get(f"/operations/{op['id']}"))
    assert op["status"] == "done" and op["unit"] == "elements"
    assert op["done"] == 11  # the folder, 5 filesets, 5 files
    copy = admin_api.ok(admin_api.get(_lookup("/PACS exports/dst/src")))
    assert copy["summary"]["files"] == 5


def test_zip_download_reports_its_progress(admin_api, world):
    folder = admin_api.ok(admin_api.post("/folders", {"parent_id": world["id"], "name": "d"}), 201)
    for i in range(3):
        admin_api.ok(admin_api.upload(folder["id"], f"f{i}.bin", bytes([i]) * 1000), 201)
    response = admin_api.get(f"/archive?ids={folder['id']}&name=d")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert sorted(zf.namelist()) == ["d/f0.bin", "d/f1.bin", "d/f2.bin"]
    op = admin_api.ok(admin_api.get(f"/operations/{response['X-Operation-Id']}"))
    assert op["kind"] == "archive.build" and op["status"] == "done"
    assert op["done"] == op["total"] == 3000
