"""The SFTP page in a real browser against a live server: a tree put into the staging area is
browsed, picked and imported into a folder (with a project identifier); a picked element of a
folder page is sent to the staging area; "How to connect" shows what a client needs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.transfers.live import ADMIN_PASSWORD, LiveServer
from tests.web.conftest import browser_page, ready, shot, sign_in
from tests.web.test_browser import contents_loaded, row

pytestmark = pytest.mark.slow

PID = "SINFONIA-T2.1-SERGAS-0042_PED.BRAIN"


@pytest.fixture(scope="module")
def api(portal_server: LiveServer) -> Iterator[httpx.Client]:
    with portal_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def staging(portal_server: LiveServer) -> Path:
    """The administrator's staging area on the live server's disk (what SFTP writes to),
    with a small tree in it."""
    root = portal_server.data / "sftp" / "home" / "admin"
    for rel, data in {
        "scan-day1/series 1/img-001.dcm": b"\x00" * 2048,
        "scan-day1/series 1/img-002.dcm": b"\x01" * 1024,
        "scan-day1/notes.txt": b"scanned on day 1\n",
        "dose report.csv": b"patient,dose\nP1,1.5\n",
        "loose.txt": b"not imported\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture(scope="module")
def target(api: httpx.Client) -> dict[str, Any]:
    response = api.post("/collections", json={"name": "SFTP imports"})
    assert response.status_code == 201, response.text
    collection: dict[str, Any] = response.json()
    return collection


@pytest.fixture(scope="module")
def page(chromium: Any, portal_server: LiveServer) -> Iterator[Any]:
    with browser_page(chromium, portal_server.base_url) as p:
        sign_in(p, "admin", ADMIN_PASSWORD)
        yield p


def sftp_ready(page: Any) -> None:
    ready(page)
    page.wait_for_selector("html[data-sftp-ready='1']")


def stage_row(page: Any, path: str) -> Any:
    return page.locator(f"tr.sf-stage-row[data-path='{path}']")


def test_browse_pick_and_import_a_tree(
    page: Any, staging: Path, target: dict[str, Any], api: httpx.Client
) -> None:
    page.goto("/sftp/")
    sftp_ready(page)
    assert stage_row(page, "scan-day1").is_visible() and stage_row(page, "loose.txt").is_visible()
    page.click("tr.sf-stage-row[data-path='scan-day1'] a.sf-name")
    sftp_ready(page)
    assert stage_row(page, "scan-day1/series 1").is_visible()
    page.click("tr.sf-stage-row[data-path='scan-day1/series 1'] a.sf-name")
    sftp_ready(page)
    assert stage_row(page, "scan-day1/series 1/img-001.dcm").is_visible()
    page.click("#sftp-crumbs a:text('/home')")
    sftp_ready(page)
    assert page.locator("#btn-import").is_disabled()
    stage_row(page, "scan-day1").locator(".sf-stage-pick").check()
    stage_row(page, "dose report.csv").locator(".sf-stage-pick").check()
    assert page.inner_text("#staging-picked").startswith("2 ")
    assert page.locator("#btn-import").is_enabled()
    shot(page, "17-sftp-page")

    page.click("#btn-import")
    page.wait_for_selector("#dlg-import.show #dest-here")
    name = page.input_value("#import-name")
    assert re.fullmatch(r"upload_admin_\d{8}_\d{6}[+-]\d{4}", name), name
    assert page.locator("#import-start").is_disabled()  # no destination yet
    page.fill("#dest-filter", "sftp imp")
    assert page.locator(".sf-dest-choice:visible").count() == 1
    page.click(".sf-dest-choice:text('SFTP imports')")
    page.wait_for_selector(f"#dest-here[data-node-id='{target['id']}']")
    assert page.inner_text("#dest-chosen") == target["path"]
    for value, field in zip(
        ("SINFONIA", "T2.1", "SERGAS", "0042"),
        ("project", "task", "partner", "patient"),
        strict=True,
    ):
        page.fill(f"#import-id-general input[name='id-{field}']", value)
    page.fill("#import-id-specific", "PED.BRAIN")
    shot(page, "19-sftp-import")
    page.click("#import-start")
    page.wait_for_selector(".toast .sf-op-link", timeout=60_000)
    assert not page.locator("#staging-picked").is_visible()  # picks cleared

    base = f"{target['path']}/{name}"
    for path in ("scan-day1/series 1/img-001.dcm", "scan-day1/notes.txt", "dose report.csv"):
        found = api.get("/resource/lookup", params={"path": f"{base}/{path}"})
        assert found.status_code == 200, (path, found.text)
    folder = api.get("/resource/lookup", params={"path": base}).json()
    assert folder["sinfonia_id"] == PID
    assert (staging / "scan-day1").is_dir()  # kept: "remove afterwards" was not ticked
    page.click(".toast .sf-op-link")
    contents_loaded(page)
    assert row(page, "scan-day1").is_visible() and row(page, "dose report.csv").is_visible()


def test_delete_from_staging(page: Any, staging: Path) -> None:
    page.goto("/sftp/")
    sftp_ready(page)
    page.once("dialog", lambda dialog: dialog.accept())
    stage_row(page, "loose.txt").locator("[data-action=sftp-delete]").click()
    # The page deletes by fetch and then lists the area again: wait for the row to go.
    stage_row(page, "loose.txt").wait_for(state="detached", timeout=15_000)
    sftp_ready(page)
    assert stage_row(page, "loose.txt").count() == 0
    assert not (staging / "loose.txt").exists()


def test_send_picked_elements_to_staging(page: Any, staging: Path, target: dict[str, Any]) -> None:
    page.goto(f"/r/{target['id']}/")
    contents_loaded(page)
    page.click("tr.sf-row a.sf-name")  # the import folder
    contents_loaded(page)
    row(page, "scan-day1").locator(".sf-pick").check()
    page.click("#picked-summary")
    page.click("#picked-to-sftp")
    page.wait_for_selector("#dlg-to-sftp.show")
    name = page.input_value("#to-sftp-name")
    assert re.fullmatch(r"download_admin_\d{8}_\d{6}[+-]\d{4}", name), name
    page.click("#to-sftp-start")
    page.wait_for_selector(".toast .sf-op-link", timeout=60_000)
    copied = staging / name / "scan-day1" / "series 1" / "img-001.dcm"
    assert copied.read_bytes() == b"\x00" * 2048
    page.click(".toast .sf-op-link")
    sftp_ready(page)
    assert stage_row(page, f"{name}/scan-day1").is_visible()
    page.evaluate("sessionStorage.clear()")


def test_how_to_connect(page: Any) -> None:
    page.goto("/sftp/")
    sftp_ready(page)
    page.click("#btn-connect")
    page.wait_for_selector("#dlg-connect.show")
    assert page.inner_text("#connect-host") == "127.0.0.1"
    assert page.inner_text("#connect-user") == "admin"
    assert page.inner_text("#connect-fingerprint").startswith("SHA256:")
    assert "2FA" not in page.inner_text("#dlg-connect")  # spelled out
    assert "two-factor" in page.inner_text("#dlg-connect")
    page.wait_for_timeout(300)
    shot(page, "18-sftp-connect")
    page.click("#tab-cli")
    assert page.inner_text("#connect-command").startswith("sftp -P ")
    page.click("#pane-cli [data-action=sftp-copy]")
    page.wait_for_selector(".toast:has-text('sftp -P')")
