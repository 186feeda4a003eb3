"""Shared fixtures: real API clients authenticated the way users authenticate (API keys)."""

from __future__ import annotations

import gc
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sinfonia.accounts.models import User
from sinfonia.accounts.services import apikeys, users
from sinfonia.core.context import Actor

SYSTEM = Actor.local_system()
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database; before it is dropped, connections that threads of the
    test process (protocol servers, pools) left open are closed: PostgreSQL refuses to drop a
    database that other sessions still use."""
    yield
    gc.collect()  # closes the connections of threads that ended
    with django_db_blocker.unblock():
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never ``playwright install``), one for the whole
    run: Playwright's sync API allows a single instance at a time."""
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _storage(tmp_path: Path, settings: Any) -> None:
    """Each test gets its own blob store."""
    settings.SINFONIA_BLOB_DIR = tmp_path / "blobs"
    settings.SINFONIA_TMP_DIR = tmp_path / "tmp"
    settings.SINFONIA_PREVIEW_DIR = tmp_path / "previews"


class Api:
    """A JSON client for /api/v1 that authenticates with an API key (or not at all)."""

    def __init__(self, user: User | None) -> None:
        self.user = user
        headers = {}
        if user is not None:
            _, key = apikeys.create_api_key(SYSTEM, user, "tests")
            headers["Authorization"] = f"Bearer {key}"
        self.client = Client(headers=headers)

    def _url(self, path: str) -> str:
        return path if path.startswith("/") and path.startswith("/api/") else f"/api/v1{path}"

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(self._url(path), params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            self._url(path), json.dumps(body or {}), content_type="application/json"
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(self._url(path), json.dumps(body), content_type="application/json")

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(self._url(path), json.dumps(body), content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(self._url(path))

    def upload(self, parent_id: int, name: str, content: bytes, **fields: Any) -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = {"parent_id": parent_id, "file": SimpleUploadedFile(name, content), **fields}
        return self.client.post(self._url("/files"), data)

    # conveniences that assert success
    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, (response.status_code, response.content[:500])
        return response.json() if response.content else None


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(name: str, *, admin: bool = False) -> User:
        user, _ = users.create_user(SYSTEM, name, password="a-Long-pass-123", site_admin=admin)
        return user

    return make


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("root", admin=True)


@pytest.fixture
def api_for() -> Callable[[User | None], Api]:
    return Api


@pytest.fixture
def admin_api(admin: User) -> Api:
    return Api(admin)


@pytest.fixture
def anon_api(db: None) -> Api:
    return Api(None)
