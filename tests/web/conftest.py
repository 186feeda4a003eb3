"""Fixtures and helpers of the browser tests: a live ``sinfonia serve``, and pages of the
``chromium`` fixture (tests/conftest.py) signed in, waited on and photographed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.transfers.live import LiveServer, running

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 800}
# The cookie choice "essential only", as the banner records it (the banner would hide dialogs).
CONSENT = "localStorage.setItem('sinfonia.consent', '{\"essential\": true, \"optional\": false}')"


@pytest.fixture(scope="session")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (and, on PostgreSQL, a database of its own) for the browser tests."""
    with running(tmp_path_factory.mktemp("portal")) as server:
        yield server


def wait_for_js(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Wait until ``expression`` is true in the page. Playwright's own ``wait_for_function``
    polls by evaluating a string inside the page, which the portal's Content-Security-Policy
    (no 'unsafe-eval') forbids; ``page.evaluate`` goes through the debugging protocol instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)


def ready(page: Any) -> None:
    page.wait_for_selector("html[data-portal-ready='1']")


def shot(page: Any, name: str) -> None:
    """docs/screenshots/<name>-light.png and -dark.png of what the page shows now."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    original = page.evaluate("document.documentElement.getAttribute('data-bs-theme')")
    for theme in ("light", "dark"):
        page.evaluate(f"document.documentElement.setAttribute('data-bs-theme', '{theme}')")
        page.wait_for_timeout(350)  # Bootstrap fades and colour transitions
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{theme}.png"))
    page.evaluate(f"document.documentElement.setAttribute('data-bs-theme', '{original}')")


@contextmanager
def browser_page(
    chromium: Any, base_url: str, *, timeout_ms: float = 15_000, **options: Any
) -> Iterator[Any]:
    """A page in a browser context of its own (``options`` go to ``new_context``), closed on
    leaving; a script error the page raised meanwhile fails the test."""
    context = chromium.new_context(viewport=VIEWPORT, base_url=base_url, **options)
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def _left(prefix: str) -> Any:
    return lambda url: not urlsplit(url).path.startswith(prefix)


def submit_login(page: Any, username: str, password: str) -> None:
    """Fill in and send the log-in form the page shows."""
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")


def accept_policy(page: Any) -> None:
    """On the privacy policy page a first sign-in leads to: accept it, and wait to move on."""
    page.wait_for_url(re.compile(r"/privacy/accept/"))
    page.check("#accept")
    page.click("#accept-submit")
    page.wait_for_url(_left("/privacy/"))


def sign_in(page: Any, username: str, password: str, *, consent: bool = True) -> None:
    """Sign in through the log-in page, accepting the privacy policy when asked; with
    ``consent``, the cookie choice is made too (essential only)."""
    page.goto("/login/")
    submit_login(page, username, password)
    page.wait_for_url(_left("/login/"))
    if "/privacy/accept/" in page.url:
        accept_policy(page)
    if consent:
        page.evaluate(CONSENT)
