"""The portal under its strict Content-Security-Policy in a real browser: every main page and
the common gestures run without a single CSP violation; and the audit page's screenshots."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from tests.transfers.live import ADMIN_PASSWORD, LiveServer
from tests.web.conftest import VIEWPORT, ready, shot, sign_in
from tests.web.test_browser import tiny_pdf

pytestmark = pytest.mark.slow

# Reports every violation the page sees (the event fires even for ones raised by scripts).
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' +
                    (e.sourceFile || '') + ':' + e.lineNumber);
});
"""


@pytest.fixture(scope="module")
def watched(chromium: Any, portal_server: LiveServer) -> Iterator[tuple[Any, list[str]]]:
    context = chromium.new_context(viewport=VIEWPORT, base_url=portal_server.base_url)
    context.set_default_timeout(15_000)
    context.add_init_script(WATCH)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda exc: console.append(f"page error: {exc}"))
    yield page, console
    context.close()


def violations(page: Any, console: list[str]) -> list[str]:
    seen = list(page.evaluate("window.__csp || []"))
    return seen + console


def visit(page: Any, console: list[str], path: str) -> None:
    page.goto(path)
    ready(page)
    page.wait_for_load_state("networkidle")
    assert not violations(page, console), (path, violations(page, console))


def admin_signs_in(page: Any) -> None:
    """Through the log-in form (leaving the cookie banner to the test)."""
    sign_in(page, "admin", ADMIN_PASSWORD, consent=False)
    ready(page)


def signed_in(page: Any) -> None:
    """Signed in as the administrator (each test can run on its own)."""
    page.goto("/profile/")
    if "/login/" in page.url:
        admin_signs_in(page)


def test_the_main_pages_and_gestures_raise_no_csp_violation(
    watched: tuple[Any, list[str]], portal_server: LiveServer
) -> None:
    page, console = watched
    visit(page, console, "/")
    visit(page, console, "/login/")
    admin_signs_in(page)
    assert not violations(page, console)
    with portal_server.client() as api:
        coll = api.post("/collections", json={"name": "CSP check"})
        assert coll.status_code == 201, coll.text
        cid = coll.json()["id"]
        fileset = api.post("/filesets", json={"parent_id": cid, "name": "Previews"})
        assert fileset.status_code == 201, fileset.text
        fid = fileset.json()["id"]
        dicom = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
        for name, data in (
            ("report.pdf", tiny_pdf()),
            ("dose.csv", b"patient,dose\nP1,1.5\n"),
            ("CT_small.dcm", dicom),
            ("page.html", b"<script>alert(1)</script>"),
        ):
            up = api.post(
                "/files", data={"parent_id": str(fid)}, files={"file": (name, io.BytesIO(data))}
            )
            assert up.status_code == 201, up.text
    for path in (
        "/dashboard/",
        "/my-folder/",
        f"/r/{cid}/",
        "/users/",
        "/groups/",
        "/profile/",
        "/trash/",
        "/sftp/",
        "/contact/",
        "/support/messages/",
        "/audit/",
        "/pages/about/",
    ):
        visit(page, console, path)
    # gestures: the previewer (PDF frame, CSV table, DICOM), a dialog, a tooltip, the menus
    page.goto(f"/r/{fid}/")
    ready(page)
    page.wait_for_selector("#children-table")
    for name in ("report.pdf", "dose.csv", "CT_small.dcm", "page.html"):
        page.click(f"tr.sf-row[data-name='{name}'] [data-action=preview]")
        page.wait_for_load_state("networkidle")
        page.keyboard.press("Escape")
    page.hover("#btn-upload")
    page.click("#btn-upload")
    page.wait_for_selector("#dlg-upload.show")
    page.locator("#dlg-upload [data-bs-dismiss=modal]").first.click()
    page.wait_for_selector("#dlg-upload", state="hidden")
    page.click("#user-menu")
    page.click("#theme-toggle")
    page.click("#user-menu")
    page.click("#theme-toggle")
    page.wait_for_load_state("networkidle")
    assert not violations(page, console), violations(page, console)
    # the watch works and the policy bites: an injected inline style and script are refused
    page.evaluate(
        "document.head.insertAdjacentHTML('beforeend', '<style>body{color:red}</style>');"
        "const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        "document.body.appendChild(s);"
    )
    page.wait_for_timeout(200)
    caught = page.evaluate("window.__csp")
    assert any(v.startswith("style-src") for v in caught), caught
    assert any(v.startswith("script-src") for v in caught), caught
    assert page.evaluate("window.__ran") is None
    page.evaluate("window.__csp = []")
    console.clear()


def test_the_audit_page_filters_and_exports(watched: tuple[Any, list[str]]) -> None:
    page, console = watched
    signed_in(page)
    page.goto("/audit/")
    ready(page)
    assert page.locator("#nav-audit").count() == 1
    assert page.locator("#audit-table tbody tr").count() >= 2
    page.fill("#f-action", "file.")
    page.click("#audit-filters button")
    page.wait_for_url(re.compile(r"action=file\."))
    actions = page.locator("#audit-table tbody td code").all_inner_texts()
    assert actions and all(a.startswith("file.") for a in actions)
    href = page.get_attribute("#audit-csv", "href")
    assert href is not None and href.startswith("/api/v1/audit.csv?") and "action=file." in href
    with page.expect_download() as download:
        page.click("#audit-csv")
    text = Path(download.value.path()).read_text()
    assert text.startswith("at,user,action,") and "file.upload" in text
    page.goto("/audit/")
    ready(page)
    if page.locator("#consent-essential").is_visible():
        page.click("#consent-essential")
    shot(page, "24-audit")
    assert not violations(page, console), violations(page, console)


def test_the_profile_creates_a_read_only_key_with_an_expiry(
    watched: tuple[Any, list[str]],
) -> None:
    page, console = watched
    signed_in(page)
    page.goto("/profile/")
    ready(page)
    page.fill("input[name=name]", "nightly export")
    page.select_option("#key-scope", "read")
    page.fill("#key-expires", "2099-12-31")
    page.click("#create-key")
    page.wait_for_selector("#new-key")
    assert page.inner_text("#new-key code").startswith("sfk_")
    listed = page.locator("#api-keys tr", has_text="nightly export")
    assert "read-only" in listed.inner_text()
    assert "2099" in listed.inner_text()
    assert not violations(page, console), violations(page, console)
