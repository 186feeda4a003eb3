"""Fixtures of the browser tests: a live ``sinfonia serve`` and Debian's Chromium driven by
Playwright (never ``playwright install``: the browser comes from apt)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.transfers.live import LiveServer, running

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
    with running(tmp_path_factory.mktemp("portal")) as server:
        yield server


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


def wait_for_js(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Wait until ``expression`` is true in the page. Playwright's own ``wait_for_function``
    polls by evaluating a string inside the page, which the portal's Content-Security-Policy
    (no 'unsafe-eval') forbids; ``page.evaluate`` goes through the debugging protocol instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)
