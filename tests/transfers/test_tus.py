"""Resumable uploads (tus 1.0) against a live server, with the tus reference client for Python
(tuspy) and with raw httpx requests for the protocol's corner cases."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusUploadFailed
from tusclient.uploader.uploader import Uploader

from tests.transfers.live import (
    OCTETS,
    TUS,
    LiveServer,
    checksum,
    create,
    created,
    metadata,
    offset_of,
    patch,
    sha256,
)

MB = 1024 * 1024
NAME = "Résumé 報告書 ÆØÅ.bin"


class Sha256Uploader(Uploader):
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


class Md5Uploader(Uploader):
    CHECKSUM_ALGORITHM_PAIR = ("md5", hashlib.md5)


def tus_client(server: LiveServer, key: str | None = None) -> TusClient:
    return TusClient(server.tus_url, headers={"Authorization": f"Bearer {key or server.admin_key}"})


def tus_upload(
    server: LiveServer,
    data: bytes,
    *,
    cls: type[Uploader] = Uploader,
    chunk_size: int = MB,
    key: str | None = None,
    upload_checksum: bool = False,
    **meta: str,
) -> str:
    """Upload ``data`` with tuspy; return the upload's URL."""
    uploader = cls(
        file_stream=io.BytesIO(data),
        client=tus_client(server, key),
        chunk_size=chunk_size,
        metadata=meta,
        upload_checksum=upload_checksum,
    )
    uploader.upload()
    assert uploader.url is not None
    assert uploader.offset == len(data)
    return str(uploader.url)


def file_id_of(api: httpx.Client, upload_url: str) -> int:
    response = api.head(upload_url, headers=TUS)
    assert response.status_code == 200, response.status_code
    return int(response.headers["Sinfonia-File-Id"])


def lookup(api: httpx.Client, path: str) -> httpx.Response:
    return api.get("/resource/lookup", params={"path": path})


def download(api: httpx.Client, file_id: int) -> bytes:
    response = api.get(f"/files/{file_id}/download")
    assert response.status_code == 200, response.status_code
    return response.content


# -- tuspy ----------------------------------------------------------------------------------------
def test_tuspy_upload_lands_at_its_path_with_its_bytes(server, api, folder):
    data = os.urandom(3 * MB + 12345)
    url = tus_upload(server, data, filename=NAME, parent_path=folder["path"], sha256=sha256(data))
    found = lookup(api, f"{folder['path']}/{NAME}/{NAME}")
    assert found.status_code == 200, found.text
    node = found.json()
    assert node["kind"] == "file"
    assert node["name"] == NAME
    assert node["size"] == len(data)
    assert node["sha256"] == sha256(data)
    assert node["id"] == file_id_of(api, url)
    assert download(api, node["id"]) == data
    # the finished upload keeps answering HEAD with its full length
    head = api.head(url, headers=TUS)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(data))


@pytest.mark.parametrize("cls", [Uploader, Sha256Uploader], ids=["sha1", "sha256"])
def test_tuspy_with_upload_checksum(server, api, folder, cls):
    data = os.urandom(2 * MB + 7)
    url = tus_upload(
        server,
        data,
        cls=cls,
        chunk_size=MB // 2,
        upload_checksum=True,
        filename="checked.bin",
        parent_id=str(folder["id"]),
    )
    node = api.get(f"/resources/{file_id_of(api, url)}").json()
    assert node["path"] == f"{folder['path']}/checked.bin/checked.bin"
    assert node["sha256"] == sha256(data)


def test_unsupported_checksum_algorithm_is_400(server, api, folder):
    with pytest.raises(TusUploadFailed) as failed:
        tus_upload(
            server,
            b"x" * 1000,
            cls=Md5Uploader,
            upload_checksum=True,
            filename="md5.bin",
            parent_id=str(folder["id"]),
        )
    assert failed.value.status_code == 400


# -- protocol corner cases (httpx) ----------------------------------------------------------------
def test_options_advertises_the_protocol(server):
    with server.client(key="") as anonymous:
        response = anonymous.options("/uploads")
    assert response.status_code == 204
    assert "1.0.0" in response.headers["Tus-Version"].split(",")
    extensions = set(response.headers["Tus-Extension"].split(","))
    assert {"creation", "creation-with-upload", "termination", "checksum"} <= extensions
    algorithms = set(response.headers["Tus-Checksum-Algorithm"].split(","))
    assert {"sha256", "sha1"} <= algorithms
    assert int(response.headers["Tus-Max-Size"]) > 0


def test_wrong_chunk_checksum_is_460_and_the_offset_stays(server, api, folder):
    data = os.urandom(3000)
    url = created(api, len(data), filename="c.bin", parent_id=folder["id"])
    first = patch(api, url, 0, data[:1000], {"Upload-Checksum": checksum("sha256", data[:1000])})
    assert first.status_code == 204, first.text
    assert first.headers["Upload-Offset"] == "1000"

    wrong = checksum("sha256", b"not these bytes")
    refused = patch(api, url, 1000, data[1000:2000], {"Upload-Checksum": wrong})
    assert refused.status_code == 460, refused.text
    assert refused.json()["code"] == "checksum_mismatch"
    assert offset_of(api, url) == 1000
    sha1_wrong = checksum("sha1", b"nope")
    assert patch(api, url, 1000, data[1000:], {"Upload-Checksum": sha1_wrong}).status_code == 460
    assert offset_of(api, url) == 1000

    # sent again with the right checksum, the same bytes are taken (and the file is right)
    good = {"Upload-Checksum": checksum("sha1", data[1000:])}
    done = patch(api, url, 1000, data[1000:], good)
    assert done.status_code == 204, done.text
    node = api.get(f"/resources/{done.headers['Sinfonia-File-Id']}").json()
    assert node["sha256"] == sha256(data)


def test_wrong_offset_is_409(server, api, folder):
    url = created(api, 100, filename="o.bin", parent_id=folder["id"])
    assert patch(api, url, 0, b"a" * 40).status_code == 204
    for wrong in (0, 39, 41, 100):
        response = patch(api, url, wrong, b"b" * 10)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "offset_mismatch"
    assert offset_of(api, url) == 40


def test_a_second_writer_is_refused_while_the_first_streams(server, api, folder):
    data = os.urandom(24 * MB)
    url = created(api, len(data), filename="busy.bin", parent_id=folder["id"])
    part = server.data / "tmp" / "uploads" / f"{url.rsplit('/', 1)[1]}.part"
    second: list[httpx.Response] = []

    def body() -> Iterator[bytes]:
        for start in range(0, len(data), 256 * 1024):
            if not second and part.stat().st_size > 0:  # the first PATCH is writing...
                with server.client() as other:  # ...when a second writer comes along
                    second.append(patch(other, url, part.stat().st_size, b"x" * 10))
            yield data[start : start + 256 * 1024]

    first = patch(api, url, 0, body())
    assert first.status_code == 204, first.text
    assert second, "the first PATCH wrote nothing before its last byte was sent"
    assert second[0].status_code == 409
    assert second[0].json()["code"] == "upload_busy"
    node = api.get(f"/resources/{first.headers['Sinfonia-File-Id']}").json()
    assert node["sha256"] == sha256(data)


def test_bytes_beyond_the_declared_length_are_refused(server, api, folder):
    url = created(api, 100, filename="long.bin", parent_id=folder["id"])
    assert patch(api, url, 0, b"a" * 60).status_code == 204
    response = patch(api, url, 60, b"b" * 41)
    assert response.status_code == 400, response.text
    assert offset_of(api, url) == 60


def test_missing_tus_resumable_is_412(server, api, folder):
    headers = {"Upload-Length": "10", "Upload-Metadata": metadata(filename="v.bin")}
    assert api.post("/uploads", headers=headers).status_code == 412
    url = created(api, 10, filename="v.bin", parent_id=folder["id"])
    response = api.patch(url, headers=OCTETS | {"Upload-Offset": "0"}, content=b"0123456789")
    assert response.status_code == 412
    assert api.patch(url, headers=TUS | OCTETS | {"Upload-Offset": "0"}, content=b"x").status_code
    assert offset_of(api, url) == 1


def test_patch_needs_the_tus_content_type(server, api, folder):
    url = created(api, 10, filename="t.bin", parent_id=folder["id"])
    response = api.patch(
        url,
        headers=TUS | {"Upload-Offset": "0", "Content-Type": "application/octet-stream"},
        content=b"0123456789",
    )
    assert response.status_code == 415
    assert offset_of(api, url) == 0


def test_creation_with_upload(server, api, folder):
    data = os.urandom(200_000)
    whole = create(api, len(data), body=data, filename="whole.bin", parent_id=folder["id"])
    assert whole.status_code == 201, whole.text
    assert whole.headers["Tus-Resumable"] == "1.0.0"
    assert whole.headers["Upload-Expires"].endswith("GMT")
    assert whole.headers["Upload-Offset"] == str(len(data))
    node = api.get(f"/resources/{whole.headers['Sinfonia-File-Id']}").json()
    assert node["sha256"] == sha256(data)

    # a first part in the POST, the rest by PATCH
    half = create(api, len(data), body=data[:50_000], filename="half.bin", parent_id=folder["id"])
    assert half.status_code == 201, half.text
    assert half.headers["Upload-Offset"] == "50000"
    assert "Sinfonia-File-Id" not in half.headers
    url = half.headers["Location"].removeprefix("/api/v1")
    rest = patch(api, url, 50_000, data[50_000:])
    assert rest.status_code == 204
    assert download(api, int(rest.headers["Sinfonia-File-Id"])) == data


def test_empty_file(server, api, folder):
    response = create(api, 0, filename="empty.txt", parent_id=folder["id"])
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Offset"] == "0"
    url = response.headers["Location"].removeprefix("/api/v1")
    if "Sinfonia-File-Id" not in response.headers:  # completed by an empty PATCH
        finished = patch(api, url, 0, b"")
        assert finished.status_code == 204, finished.text
    node = lookup(api, f"{folder['path']}/empty.txt/empty.txt").json()
    assert node["size"] == 0
    assert node["sha256"] == sha256(b"")


def test_termination_removes_everything(server, api, folder):
    url = created(api, 1000, filename="gone.bin", parent_id=folder["id"])
    upload_id = url.rsplit("/", 1)[1]
    assert patch(api, url, 0, b"z" * 300).status_code == 204
    assert f"{upload_id}.part" in server.part_files()

    deleted = api.delete(url, headers=TUS)
    assert deleted.status_code == 204
    assert f"{upload_id}.part" not in server.part_files()
    assert api.head(url, headers=TUS).status_code == 404
    assert patch(api, url, 300, b"z" * 700).status_code == 404
    assert api.delete(url, headers=TUS).status_code == 404
    assert lookup(api, f"{folder['path']}/gone.bin").status_code == 404


def test_final_sha256_mismatch_leaves_nothing_behind(server, api, folder):
    data = os.urandom(300_000)
    blobs = server.blob_count()
    url = created(
        api, len(data), filename="bad.bin", parent_id=folder["id"], sha256=sha256(b"other")
    )
    upload_id = url.rsplit("/", 1)[1]
    assert patch(api, url, 0, data[:100_000]).status_code == 204
    response = patch(api, url, 100_000, data[100_000:])
    assert response.status_code == 460, response.text
    assert response.json()["code"] == "checksum_mismatch"

    assert lookup(api, f"{folder['path']}/bad.bin").status_code == 404
    assert api.get(f"/resources/{folder['id']}/children").json()["total"] == 0
    assert server.blob_count() == blobs
    assert f"{upload_id}.part" not in server.part_files()
    assert api.head(url, headers=TUS).status_code == 404
    assert patch(api, url, 0, data).status_code == 404


def test_a_bad_sha256_is_refused_at_creation(server, api, folder):
    response = create(api, 10, filename="x.bin", parent_id=folder["id"], sha256="abc")
    assert response.status_code == 400


def test_name_taken_meanwhile_leaves_nothing_behind(server, api, folder):
    """The name was free at creation, then someone else took it before the last byte."""
    data = os.urandom(100_000)
    blobs = server.blob_count()
    url = created(api, len(data), filename="clash.bin", parent_id=folder["id"])
    upload_id = url.rsplit("/", 1)[1]
    other = api.post(
        "/files", data={"parent_id": folder["id"]}, files={"file": ("clash.bin", b"first")}
    )
    assert other.status_code == 201, other.text
    blobs += 1
    response = patch(api, url, 0, data)
    assert response.status_code == 409, response.text
    assert server.blob_count() == blobs
    assert f"{upload_id}.part" not in server.part_files()
    assert api.head(url, headers=TUS).status_code == 404
    found = lookup(api, f"{folder['path']}/clash.bin/clash.bin").json()
    assert found["sha256"] == sha256(b"first")


def test_invisible_until_the_last_byte(server, api, folder):
    data = os.urandom(500_000)
    url = created(api, len(data), filename="late.bin", parent_id=folder["id"])
    assert patch(api, url, 0, data[:499_999]).status_code == 204
    assert lookup(api, f"{folder['path']}/late.bin").status_code == 404
    assert lookup(api, f"{folder['path']}/late.bin/late.bin").status_code == 404
    assert api.get(f"/resources/{folder['id']}/children").json()["total"] == 0
    assert api.get(f"/resources/{folder['id']}").json()["summary"]["files"] == 0

    assert patch(api, url, 499_999, data[499_999:]).status_code == 204
    found = lookup(api, f"{folder['path']}/late.bin/late.bin")
    assert found.status_code == 200
    assert found.json()["sha256"] == sha256(data)


def test_identical_content_is_stored_once(server, api, folder):
    data = os.urandom(400_000)
    blobs = server.blob_count()
    first = tus_upload(server, data, filename="one.bin", parent_id=str(folder["id"]))
    assert server.blob_count() == blobs + 1
    second = tus_upload(server, data, filename="two.bin", parent_id=str(folder["id"]))
    assert server.blob_count() == blobs + 1
    a, b = file_id_of(api, first), file_id_of(api, second)
    assert a != b
    assert download(api, a) == download(api, b) == data


def test_uploads_packed_into_one_fileset(server, api, folder):
    contents = {f"slice-{i:03d}.dcm": os.urandom(50_000 + i) for i in range(4)}
    for name, data in contents.items():
        tus_upload(server, data, filename=name, parent_id=str(folder["id"]), fileset="Series 1")
    children = api.get(f"/resources/{folder['id']}/children").json()
    assert [(c["kind"], c["name"]) for c in children["items"]] == [("fileset", "Series 1")]
    fileset = children["items"][0]
    files = api.get(f"/resources/{fileset['id']}/children").json()["items"]
    assert sorted(f["name"] for f in files) == sorted(contents)
    for f in files:
        assert f["kind"] == "file"
        assert download(api, f["id"]) == contents[f["name"]]


def test_upload_into_an_existing_fileset(server, api, folder):
    fileset = api.post("/filesets", json={"parent_id": folder["id"], "name": "Mine"}).json()
    url = tus_upload(server, b"hello", filename="a.txt", parent_id=str(fileset["id"]))
    node = api.get(f"/resources/{file_id_of(api, url)}").json()
    assert node["parent_id"] == fileset["id"]


def test_upload_token_works_as_bearer(server, api, folder):
    issued = api.post("/upload-tokens")
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    data = os.urandom(150_000)
    url = tus_upload(server, data, key=token, filename="tok.bin", parent_id=str(folder["id"]))
    assert download(api, file_id_of(api, url)) == data
    with server.client(key=token) as with_token:
        # the same user's uploads, whichever credential started them
        assert with_token.head(url, headers=TUS).status_code == 200
        # it is good for uploads only
        assert with_token.get("/users/me").status_code == 401
    with server.client(key=token + "x") as forged:
        assert create(forged, 10, filename="f.bin", parent_id=folder["id"]).status_code == 401


def test_strangers_and_anonymous_cannot_touch_an_upload(server, api, folder):
    url = created(api, 100, filename="mine.bin", parent_id=folder["id"])
    assert patch(api, url, 0, b"m" * 10).status_code == 204
    with server.client(key=server.user_key("stranger")) as stranger:
        assert stranger.head(url, headers=TUS).status_code == 404
        assert stranger.get(url, headers=TUS).status_code == 404
        assert patch(stranger, url, 10, b"s" * 10).status_code == 404
        assert stranger.delete(url, headers=TUS).status_code == 404
    with server.client(key="") as anonymous:
        assert anonymous.head(url, headers=TUS).status_code == 401
        assert patch(anonymous, url, 10, b"a" * 10).status_code == 401
        assert anonymous.delete(url, headers=TUS).status_code == 401
        assert create(anonymous, 10, filename="a.bin", parent_id=folder["id"]).status_code == 401
    with server.client(key="sfk_nothing_real") as forged:
        assert forged.head(url, headers=TUS).status_code == 401
    assert offset_of(api, url) == 10


def test_disallowed_destinations_are_refused_before_any_byte(server, api, folder):
    reader = server.user_key("reader")
    acl = api.put(
        f"/resources/{folder['id']}/acl",
        json={"entries": [{"user": "reader", "level": "read"}]},
    )
    assert acl.status_code == 200, acl.text
    parts = server.part_files()
    body = b"x" * 10

    def attempt(client: httpx.Client, **meta: Any) -> int:
        status: int = create(client, len(body), body=body, filename="no.bin", **meta).status_code
        return status

    with server.client(key=reader) as as_reader:
        assert as_reader.get(f"/resources/{folder['id']}").status_code == 200
        assert attempt(as_reader, parent_id=folder["id"]) == 403
        assert attempt(as_reader, parent_path=folder["path"]) == 403
    with server.client(key=server.user_key("stranger")) as stranger:
        assert attempt(stranger, parent_id=folder["id"]) == 404
        assert attempt(stranger, parent_path=folder["path"]) == 404
        assert attempt(stranger, parent_id=server.collection_id) == 404
    assert attempt(api, parent_id=10**9) == 404
    assert attempt(api, parent_path=f"{folder['path']}/missing") == 404
    assert attempt(api) == 400  # no destination at all
    assert create(api, 10, filename="", parent_id=folder["id"]).status_code == 400
    assert create(api, 10, filename="a/b", parent_id=folder["id"]).status_code == 400
    assert create(api, 2 * 1024**4, filename="huge", parent_id=folder["id"]).status_code == 413
    too_long = api.post("/uploads", headers=TUS | {"Upload-Length": "-1"})
    assert too_long.status_code == 400
    file = tus_upload(server, b"f", filename="f.bin", parent_id=str(folder["id"]))
    assert attempt(api, parent_id=file_id_of(api, file)) == 400  # a file holds no files
    assert server.part_files() == parts
    assert api.get(f"/resources/{folder['id']}/children").json()["total"] == 1
