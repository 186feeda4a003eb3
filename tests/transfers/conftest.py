"""Fixtures of the transfer tests: a live ``sinfonia serve`` talked to by real clients."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.transfers.live import LiveServer, running


@pytest.fixture(scope="session")
def live_sinfonia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the whole session, on its own data folder (and, in the PostgreSQL run,
    its own database); tests that kill it restart it on the same folder and port.

    (Not named ``live_server``: pytest-django owns that name and wraps it in a database.)"""
    with running(tmp_path_factory.mktemp("live"), collection="Transfers") as server:
        yield server


@pytest.fixture
def server(live_sinfonia: LiveServer) -> LiveServer:
    """The live server, started again if an earlier test left it down."""
    if live_sinfonia.proc is None or live_sinfonia.proc.poll() is not None:
        live_sinfonia.kill()
        live_sinfonia.start()
    return live_sinfonia


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    """httpx for /api/v1 as the administrator (API key)."""
    with server.client() as client:
        yield client


@pytest.fixture
def folder(server: LiveServer, api: httpx.Client, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A fresh folder in the test collection (``id``, ``path``, ...) for one test."""
    name = re.sub(r"[^\w.-]+", "_", request.node.name)[:60] + "-" + secrets.token_hex(3)
    response = api.post("/folders", json={"parent_id": server.collection_id, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
