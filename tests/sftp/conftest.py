"""Fixtures of the SFTP tests: one live server (HTTP + SFTP on free ports) for the session.

On the PostgreSQL run it gets a database of its own, made here and dropped afterwards.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.sftp.live import SftpServer
from tests.transfers.live import free_port, running

QUOTA = 4 * 1024 * 1024


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    if shutil.which("sftp") is None:
        pytest.fail("OpenSSH's sftp client is missing: ./run test installs openssh-client")
    root = tmp_path_factory.mktemp("sftp-live")
    (root / "keys").mkdir()
    with running(
        root,
        SftpServer,
        collection="Sftp",
        settings={"SINFONIA_SFTP_QUOTA_BYTES": str(QUOTA)},
        sftp_port=free_port(),
        keys_dir=root / "keys",
    ) as server:
        assert isinstance(server, SftpServer)
        yield server


@pytest.fixture
def live(sftp_server: SftpServer) -> SftpServer:
    """The live server, started again if an earlier test left it down."""
    if sftp_server.proc is None or sftp_server.proc.poll() is not None:
        sftp_server.kill()
        sftp_server.start()
    return sftp_server


@pytest.fixture
def admin_http(live: SftpServer) -> Iterator[httpx.Client]:
    """httpx for /api/v1 as the administrator of the live server."""
    with live.client() as client:
        yield client


@pytest.fixture
def uid(request: pytest.FixtureRequest) -> str:
    """A short unique suffix for names of this test (users, folders)."""
    return re.sub(r"\W+", "", request.node.name)[-12:].lower() + secrets.token_hex(2)


@pytest.fixture
def make_folder(live: SftpServer, admin_http: httpx.Client) -> Callable[..., dict[str, Any]]:
    """``make_folder(name, **levels)``: a folder in /Sftp with its own access list
    (``alice="write"``...), as the administrator."""

    def make(name: str, **levels: str) -> dict[str, Any]:
        response = admin_http.post("/folders", json={"parent_id": live.collection_id, "name": name})
        assert response.status_code == 201, response.text
        folder: dict[str, Any] = response.json()
        if levels:
            entries = [{"user": user, "level": level} for user, level in levels.items()]
            for user in levels:
                live.user(user)
            acl = admin_http.put(f"/resources/{folder['id']}/acl", json={"entries": entries})
            assert acl.status_code == 200, acl.text
        return folder

    return make
