"""Uploads resume exactly where the disk says: after ``kill -9`` of the server, and after a client
that vanished in the middle of a PATCH."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from tusclient.client import TusClient
from tusclient.uploader.uploader import Uploader

from tests.transfers.live import TUS, LiveServer, created, offset_of, patch, sha256

MB = 1024 * 1024


def tus_client(server: LiveServer) -> TusClient:
    return TusClient(server.tus_url, headers={"Authorization": f"Bearer {server.admin_key}"})


def settled_offset(api: httpx.Client, url: str, timeout: float = 10) -> int:
    """The upload's offset once the server has stopped moving it."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        now = offset_of(api, url)
        if now == last:
            return now
        last = now
        time.sleep(0.2)
    raise AssertionError(f"the offset of {url} kept moving")


def check_file(api: httpx.Client, url: str, data: bytes) -> None:
    head = api.head(url, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(len(data))
    node = api.get(f"/resources/{head.headers['Sinfonia-File-Id']}").json()
    assert node["size"] == len(data)
    assert node["sha256"] == sha256(data)
    with api.stream("GET", f"/files/{node['id']}/download") as response:
        assert response.status_code == 200
        received = b"".join(response.iter_bytes())
    assert sha256(received) == sha256(data)


def test_resume_after_the_server_was_killed(server, folder):
    data = os.urandom(64 * MB)
    half = 32 * MB
    uploader = tus_client(server).uploader(
        file_stream=io.BytesIO(data),
        chunk_size=4 * MB,
        metadata={"filename": "killed.raw", "parent_id": str(folder["id"])},
    )
    uploader.upload(stop_at=half)  # 8 PATCHes of 4 MB
    assert uploader.offset == half
    url = str(uploader.url)

    # the next PATCH is under way, its first bytes on disk, when the server dies of SIGKILL
    part = server.data / "tmp" / "uploads" / f"{url.rsplit('/', 1)[1]}.part"
    reserve = server.data / "tmp" / f"reserve-{server.pid}"  # storage.reserve's folder
    assert reserve.is_dir()

    def body() -> Iterator[bytes]:
        for start in range(half, len(data), 256 * 1024):
            if server.proc is not None and part.stat().st_size >= half + 4 * MB:
                server.kill()  # no shutdown at all
            yield data[start : start + 256 * 1024]

    with server.client() as api, pytest.raises(httpx.TransportError):
        patch(api, url, half, body())
    assert server.proc is None

    server.start()  # same data folder, same port
    assert not reserve.exists()  # the dead server's reserve is swept; the new one has its own
    assert (server.data / "tmp" / f"reserve-{server.pid}").is_dir()
    with server.client() as api:
        kept = offset_of(api, url)
        assert half + 4 * MB <= kept < len(data)
        assert api.get(f"/resources/{folder['id']}/children").json()["total"] == 0

    resumed = Uploader(
        file_stream=io.BytesIO(data), url=url, client=tus_client(server), chunk_size=4 * MB
    )
    assert resumed.offset == kept
    resumed.upload()
    with server.client() as api:
        check_file(api, url, data)


class ClientGone(Exception):
    pass


def test_resume_after_the_client_went_away_mid_patch(server, api, folder):
    data = os.urandom(8 * MB)
    url = created(api, len(data), filename="dropped.raw", parent_id=folder["id"])

    def body() -> Iterator[bytes]:
        for start in range(0, 3 * MB, 64 * 1024):
            yield data[start : start + 64 * 1024]
        raise ClientGone  # the client dies with the request half sent

    with server.client() as doomed, pytest.raises((ClientGone, httpx.TransportError)):
        patch(doomed, url, 0, body())

    kept = settled_offset(api, url)
    assert 0 < kept <= 3 * MB  # what arrived is kept, nothing more
    assert api.get(f"/resources/{folder['id']}/children").json()["total"] == 0

    resumed = Uploader(
        file_stream=io.BytesIO(data),
        url=server.base_url + "/api/v1" + url,
        client=tus_client(server),
        chunk_size=2 * MB,
    )
    assert resumed.offset == kept
    resumed.upload()
    check_file(api, url, data)
