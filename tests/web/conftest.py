"""Fixtures of the browser tests: a live ``sinfonia serve`` and Debian's Chromium driven by
Playwright (never ``playwright install``: the browser comes from apt)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.transfers.live import ADMIN_PASSWORD, LiveServer, PgDatabase, free_port

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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (and, on PostgreSQL, a database of its own) for the browser tests."""
    root = tmp_path_factory.mktemp("portal")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
    env |= {
        "SINFONIA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SINFONIA_LOG_LEVEL": "warning",
        "DJANGO_SETTINGS_MODULE": "sinfonia.settings",
    }
    pg = (
        PgDatabase(os.environ["SINFONIA_DATABASE_URL"])
        if os.environ.get("SINFONIA_DATABASE_URL")
        else None
    )
    if pg is not None:
        env["SINFONIA_DATABASE_URL"] = pg.create()
    server = LiveServer(data=root / "data", port=free_port(), env=env, log_path=root / "serve.log")
    try:
        server.start()
        server.admin_key = server.cli("apikey", "create", "admin").strip()
        yield server
    finally:
        server.stop()
        if pg is not None:
            pg.drop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
