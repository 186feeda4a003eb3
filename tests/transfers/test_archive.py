"""ZIP downloads of selections: from a live server (tree, names, bytes), and one beyond 4 GB
streamed through the Django test client without ever being stored."""

from __future__ import annotations

import collections
import io
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from sinfonia.core.context import Actor
from sinfonia.resources.models import Node
from sinfonia.resources.services import files
from sinfonia.storage import blobstore
from tests.transfers.live import LiveServer

# -- a selection on the live server ---------------------------------------------------------------


def folder(api: httpx.Client, parent_id: int, name: str) -> dict[str, Any]:
    response = api.post("/folders", json={"parent_id": parent_id, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def fileset(api: httpx.Client, parent_id: int, name: str) -> dict[str, Any]:
    response = api.post("/filesets", json={"parent_id": parent_id, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def put(api: httpx.Client, parent_id: int, name: str, data: bytes) -> dict[str, Any]:
    response = api.post("/files", data={"parent_id": parent_id}, files={"file": (name, data)})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def selection(live_sinfonia: LiveServer) -> dict[str, Any]:
    """Picked: a folder tree, a fileset from elsewhere, a single file, and a second element
    named like the single file. Returns the ids picked and the archive expected."""
    expected: dict[str, bytes] = {}
    with live_sinfonia.client() as api:
        root = folder(api, live_sinfonia.collection_id, "archives")
        study = folder(api, root["id"], "Étude ü")
        sub = folder(api, study["id"], "Sub 子")
        series = fileset(api, sub["id"], "Series A")
        for name in ("a1.dcm", "a2.dcm"):
            data = os.urandom(70_000)
            put(api, series["id"], name, data)
            expected[f"Étude ü/Sub 子/Series A/{name}"] = data
        notes = "Ωmega notes.txt".encode()
        put(api, study["id"], "notes.txt", notes)  # a single upload: fileset notes.txt/notes.txt
        expected["Étude ü/notes.txt"] = notes
        folder(api, study["id"], "empty")  # holds no file: a directory entry keeps it
        expected["Étude ü/empty/"] = b""

        elsewhere = folder(api, root["id"], "elsewhere")
        series_b = fileset(api, elsewhere["id"], "Série B")
        for name in ("b1.dcm", "b2.dcm"):
            data = os.urandom(30_000)
            put(api, series_b["id"], name, data)
            expected[f"Série B/{name}"] = data

        report = os.urandom(12_345)
        report_file = put(api, elsewhere["id"], "report.pdf", report)  # picked: the file
        expected["report.pdf"] = report

        other = folder(api, root["id"], "other")
        other_report = os.urandom(999)
        other_fs = put(api, other["id"], "report.pdf", other_report)["parent_id"]  # its fileset
        expected["report (2).pdf"] = other_report
    return {
        "ids": [study["id"], series_b["id"], report_file["id"], other_fs],
        "expected": expected,
    }


def check_zip(content: bytes, expected: dict[str, bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert zf.testzip() is None  # every member's CRC is right
        assert sorted(zf.namelist()) == sorted(expected)
        for name, data in expected.items():
            assert zf.read(name) == data, name
            info = zf.getinfo(name)
            assert info.flag_bits & 0x800  # names are flagged UTF-8


def test_zip_of_a_selection_keeps_the_tree_and_the_bytes(server, api, selection):
    response = api.get("/archive", params={"ids": selection["ids"], "name": "Auswahl ü"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/zip"
    files = [name for name in selection["expected"] if not name.endswith("/")]
    assert response.headers["X-Archive-Files"] == str(len(files))
    disposition = response.headers["Content-Disposition"]
    encoded = disposition.split("filename*=", 1)[1]
    assert unquote(encoded.removeprefix("utf-8''"), encoding="utf-8") == "Auswahl ü.zip"
    check_zip(response.content, selection["expected"])


def test_zip_by_post_streams_the_same(server, api, selection):
    with api.stream(
        "POST", "/archive", json={"ids": selection["ids"], "name": "big.zip"}
    ) as response:
        assert response.status_code == 200
        assert "big.zip" in response.headers["Content-Disposition"]
        content = b"".join(response.iter_bytes())
    check_zip(content, selection["expected"])


def test_same_names_from_different_places_do_not_collide(server, api):
    root = folder(api, server.collection_id, "twins")
    picked, expected = [], {}
    for n, place in enumerate(("left", "right"), start=1):
        scan = folder(api, folder(api, root["id"], place)["id"], "Scan")
        data = os.urandom(5000)
        put(api, scan["id"], "image.dcm", data)
        picked.append(scan["id"])
        expected["Scan/image.dcm" if n == 1 else "Scan/image (2).dcm"] = data
    response = api.get("/archive", params={"ids": picked})
    assert response.status_code == 200
    check_zip(response.content, expected)


def test_picking_an_element_twice_sends_it_once(server, api, selection):
    pick = selection["ids"][2]
    response = api.get("/archive", params={"ids": [pick, pick]})
    assert response.status_code == 200
    check_zip(response.content, {"report.pdf": selection["expected"]["report.pdf"]})


def test_zip_needs_read_access(server, selection):
    with server.client(key=server.user_key("stranger")) as stranger:
        assert stranger.get("/archive", params={"ids": selection["ids"]}).status_code == 404
    with server.client(key="") as anonymous:
        assert anonymous.get("/archive", params={"ids": selection["ids"]}).status_code == 401


def test_zip_needs_a_selection(server, api):
    assert api.get("/archive").status_code in (400, 422)
    assert api.get("/archive", params={"ids": [10**9]}).status_code == 404


# -- beyond 4 GB -----------------------------------------------------------------------------
HUGE = 4_300_000_000  # zero bytes: more than the 4 GiB a plain (non-ZIP64) ZIP can describe
# The SHA-256 of HUGE zero bytes, computed once (hashlib.sha256 over 1 MiB chunks): the blob
# store addresses bytes by it, and hashing 4.3 GB on every run would only cost time.
HUGE_SHA256 = "29fea7c12faeda00441d906e04c3c65a4731581ef9ccf14907574040df521ad3"
TAIL = 1024 * 1024


class SparseView(io.RawIOBase):
    """A read-only file of ``total`` bytes: ``head`` at its start, ``tail`` at its end, zeros
    between (enough for zipfile to read the local header and the central directory)."""

    def __init__(self, head: bytes, tail: bytes, total: int) -> None:
        super().__init__()
        self.head, self.tail, self.total = head, tail, total
        self.tail_start = total - len(tail)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.total}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        lo = self.pos
        hi = min(self.total, lo + len(view))
        if hi <= lo:
            return 0
        data = bytearray(hi - lo)
        if lo < len(self.head):
            part = self.head[lo:hi]
            data[: len(part)] = part
        if hi > self.tail_start:
            start = max(lo, self.tail_start)
            data[start - lo :] = self.tail[start - self.tail_start : hi - self.tail_start]
        view[: len(data)] = data
        self.pos = hi
        return len(data)


def crc32_of_zeros(size: int) -> int:
    zeros = bytes(blobstore.CHUNK)
    crc, left = 0, size
    while left:
        step = min(left, len(zeros))
        crc = zlib.crc32(zeros if step == len(zeros) else zeros[:step], crc)
        left -= step
    return crc


@pytest.fixture
def hole_friendly_store(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """The blob store on tmpfs where there is one: reading a hole there costs nothing, while on
    ext4 it fills the page cache with gigabytes of zeros (seconds)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        root = Path(tempfile.mkdtemp(dir=shm, prefix="sinfonia-zip64-"))
    else:
        root = tmp_path / "holes"
    settings.SINFONIA_BLOB_DIR = root / "blobs"
    settings.SINFONIA_TMP_DIR = root / "tmp"
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.usefixtures("hole_friendly_store")
def test_zip_beyond_4_gb_is_zip64(admin_api):
    collection = admin_api.ok(admin_api.post("/collections", {"name": "Big"}), 201)
    holder = admin_api.ok(
        admin_api.post("/filesets", {"parent_id": collection["id"], "name": "Volume"}), 201
    )
    sparse = blobstore.tmp_dir() / "sparse.raw"
    with open(sparse, "wb") as fh:
        fh.truncate(HUGE)  # no byte written: a hole of 4.3 GB
    stored = blobstore.adopt(sparse, HUGE_SHA256, HUGE)
    files.register_file(
        Actor.local_system(), Node.objects.get(pk=holder["id"]), "zeros.raw", stored
    )
    try:
        response = admin_api.get("/archive", ids=[holder["id"]], name="huge")
        assert response.status_code == 200
        assert response.streaming
        head = b""
        tail: collections.deque[bytes] = collections.deque()
        kept = total = 0
        for chunk in response.streaming_content:
            total += len(chunk)
            if len(head) < 64 * 1024:
                head += chunk[: 64 * 1024 - len(head)]
            tail.append(chunk)
            kept += len(chunk)
            while kept - len(tail[0]) >= TAIL:
                kept -= len(tail.popleft())
        response.close()
    finally:
        blobstore.delete(HUGE_SHA256)

    assert total > HUGE
    end = b"".join(tail)
    assert b"PK\x06\x06" in end  # ZIP64 end of central directory record
    assert b"PK\x06\x07" in end  # ... and its locator
    with zipfile.ZipFile(SparseView(head, end, total)) as zf:
        (info,) = zf.infolist()
    assert info.filename == "Volume/zeros.raw"
    assert info.file_size == HUGE
    assert info.compress_size > 0xFFFFFFFF
    assert info.header_offset == 0
    assert head[:4] == b"PK\x03\x04"
    crc = info.CRC
    assert crc == crc32_of_zeros(HUGE)
