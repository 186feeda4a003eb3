"""Single-file downloads from a live server: ranges, validators, names, and curl's resume."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.transfers.live import LiveServer, sha256

NAME = "Überblick 画像 №1.png"
SIZE = 300_000


@pytest.fixture(scope="module")
def stored(live_sinfonia: LiveServer) -> dict[str, Any]:
    """A file with a non-Latin name, uploaded once for the module's tests."""
    data = os.urandom(SIZE)
    with live_sinfonia.client() as api:
        folder = api.post(
            "/folders", json={"parent_id": live_sinfonia.collection_id, "name": "downloads"}
        ).json()
        response = api.post(
            "/files", data={"parent_id": folder["id"]}, files={"file": (NAME, data)}
        )
        assert response.status_code == 201, response.text
    return {"id": response.json()["id"], "data": data}


@pytest.fixture
def url(server: LiveServer, stored: dict[str, Any]) -> str:
    return f"/files/{stored['id']}/download"


@pytest.fixture
def data(stored: dict[str, Any]) -> bytes:
    content: bytes = stored["data"]
    return content


def test_whole_file_with_its_headers(api, url, data):
    response = api.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] == f'"{sha256(data)}"'
    assert response.headers["Content-Type"] == "image/png"  # guessed from the name
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    encoded = disposition.split("filename*=", 1)[1]
    assert encoded.lower().startswith("utf-8''")
    assert unquote(encoded[len("utf-8''") :], encoding="utf-8") == NAME


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=-10", SIZE - 10, SIZE - 1),
        ("bytes=100-", 100, SIZE - 1),
        ("bytes=1000-1000", 1000, 1000),
        (f"bytes=5-{SIZE * 2}", 5, SIZE - 1),  # clipped to the end
        (f"bytes=-{SIZE * 2}", 0, SIZE - 1),  # a suffix longer than the file
    ],
)
def test_ranges(api, url, data, header, first, last):
    response = api.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.content == data[first : last + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 10}", "bytes=-0"])
def test_unsatisfiable_range_is_416(api, url, header):
    response = api.get(url, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-1x"])
def test_ranges_not_understood_give_the_whole_file(api, url, data, header):
    response = api.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == data


def test_etag_and_if_none_match(api, url, data):
    etag = f'"{sha256(data)}"'
    assert api.get(url, headers={"If-None-Match": etag}).status_code == 304
    both = api.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert both.status_code == 304
    assert both.headers["ETag"] == etag
    assert both.content == b""
    assert api.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_range(api, url, data):
    etag = f'"{sha256(data)}"'
    stale = api.get(url, headers={"Range": "bytes=0-99", "If-Range": '"changed"'})
    assert stale.status_code == 200
    assert stale.content == data
    fresh = api.get(url, headers={"Range": "bytes=0-99", "If-Range": etag})
    assert fresh.status_code == 206
    assert fresh.content == data[:100]


def test_download_needs_read_access(server, url):
    with server.client(key="") as anonymous:
        assert anonymous.get(url).status_code == 401
    with server.client(key=server.user_key("stranger")) as stranger:
        assert stranger.get(url).status_code == 404


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_resumes_a_download(server, api, url, data, tmp_path: Path):
    target = tmp_path / "partial.png"
    with api.stream("GET", url) as response:
        it = response.iter_bytes(chunk_size=64 * 1024)
        target.write_bytes(next(it))  # an interrupted download
    assert 0 < target.stat().st_size < SIZE
    done = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--fail",
            "--continue-at",
            "-",
            "--output",
            str(target),
            "--header",
            f"Authorization: Bearer {server.admin_key}",
            f"{server.api_url}{url}",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == data


def test_empty_file(server, api):
    """An empty file: 200 with no bytes; any range of it is unsatisfiable."""
    folder = api.post(
        "/folders", json={"parent_id": server.collection_id, "name": "empty-download"}
    ).json()
    created = api.post("/files", data={"parent_id": folder["id"]}, files={"file": ("e.txt", b"")})
    assert created.status_code == 201
    url = f"/files/{created.json()['id']}/download"
    whole = api.get(url)
    assert whole.status_code == 200
    assert whole.content == b""
    assert whole.headers["Content-Type"].startswith("text/plain")
    assert api.get(url, headers={"Range": "bytes=0-"}).status_code == 416


def test_streams_without_buffering(api, url, data):
    """Read in small pieces: the bytes come as a stream of the right length."""
    with api.stream("GET", url) as response:
        assert response.status_code == 200
        pieces = list(response.iter_bytes(chunk_size=10_000))
    assert len(pieces) >= SIZE // 10_000
    assert b"".join(pieces) == data
