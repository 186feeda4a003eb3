"""The portal in a real browser (Chromium through Playwright) against a live server: the
gestures of the reference portal, and screenshots of every main page, light and dark."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.transfers.live import ADMIN_PASSWORD, LiveServer
from tests.web.conftest import (
    accept_policy,
    browser_page,
    ready,
    shot,
    submit_login,
    wait_for_js,
)

pytestmark = pytest.mark.slow


def tiny_pdf() -> bytes:
    """A valid one-page PDF with a line of text, written by hand (no library needed)."""
    stream = b"BT /F1 24 Tf 72 720 Td (Sinfonia test PDF) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def api(portal_server: LiveServer) -> Iterator[httpx.Client]:
    with portal_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def page(chromium: Any, portal_server: LiveServer) -> Iterator[Any]:
    with browser_page(chromium, portal_server.base_url, accept_downloads=True) as p:
        yield p


def contents_loaded(page: Any) -> None:
    page.wait_for_selector("#children-table")
    page.wait_for_load_state("networkidle")


def row(page: Any, name: str) -> Any:
    return page.locator(f"tr.sf-row[data-name='{name}']")


def test_anonymous_landing_and_cookie_banner(page: Any) -> None:
    page.goto("/")
    ready(page)
    assert page.locator("#cookie-banner").is_visible()
    assert "browsing anonymously" in page.inner_text("main")
    shot(page, "01-home-anonymous")
    page.click("#consent-essential")
    assert not page.locator("#cookie-banner").is_visible()
    consent = page.evaluate("JSON.parse(localStorage.getItem('sinfonia.consent'))")
    assert consent["essential"] is True and consent["optional"] is False
    assert page.evaluate("window.sinfoniaConsent.allowed()") is False
    assert {c["name"] for c in page.context.cookies()} <= {"csrftoken"}
    page.click("#cookie-settings")
    assert page.locator("#cookie-banner").is_visible()
    page.click("#consent-essential")


def test_log_in_accept_policy_and_landing(page: Any) -> None:
    page.click("#login-button")
    shot(page, "02-login")
    submit_login(page, "admin", ADMIN_PASSWORD)
    accept_policy(page)
    page.wait_for_url(re.compile(r"/$"))
    ready(page)
    assert page.locator("#hook-dashboard").is_visible() and page.locator("#hook-sftp").is_visible()
    session = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    assert session["expires"] == -1  # a browser-session cookie
    page.click("#user-menu")
    shot(page, "03-home-signed-in")
    page.keyboard.press("Escape")


def test_dark_mode_is_remembered(page: Any) -> None:
    page.click("#user-menu")
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.bsTheme") == "dark"
    page.reload()
    ready(page)
    assert page.evaluate("document.documentElement.dataset.bsTheme") == "dark"
    assert page.evaluate("localStorage.getItem('sinfonia.theme')") == "dark"
    page.click("#user-menu")
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.bsTheme") == "light"


def test_create_collection_and_folder_through_dialogs(page: Any) -> None:
    page.goto("/dashboard/")
    ready(page)
    page.click("[data-action=new-collection]")
    page.fill("#node-name-input", "WP2 Imaging")
    page.fill("#node-description-input", "Work package 2: CT and RT data")
    page.click("#node-save")
    page.wait_for_url(re.compile(r"/r/\d+/$"))
    contents_loaded(page)
    page.click("#btn-actions")
    page.click("#act-new-folder")
    page.fill("#node-name-input", "Paediatric CT")
    page.click("#node-save")
    page.wait_for_selector("#node-name:text-is('Paediatric CT')")
    contents_loaded(page)
    page.goto("/dashboard/")
    shot(page, "04-dashboard")


def test_upload_two_files_with_progress(page: Any, tmp_path: Path, api: httpx.Client) -> None:
    page.goto("/dashboard/")
    page.click("text=WP2 Imaging")
    contents_loaded(page)
    page.click("tr.sf-row[data-name='Paediatric CT'] a.sf-name")
    contents_loaded(page)
    first = tmp_path / "dose 線量.csv"
    first.write_text("patient,dose\nP1,1.5\nP2,2.0\n")
    second = tmp_path / "report.pdf"
    second.write_bytes(tiny_pdf())
    page.click("#btn-upload")
    page.set_input_files("#upload-files", [str(first), str(second)])
    page.fill("#upload-fileset-name", "Patient 0042")
    shot(page, "05-upload-dialog")
    page.click("#upload-start")
    page.wait_for_selector(".sf-upload .sf-up-status:has-text('%')")
    page.wait_for_selector("tr.sf-row[data-name='Patient 0042']", timeout=30_000)
    page.click("tr.sf-row[data-name='Patient 0042'] a.sf-name")
    contents_loaded(page)
    assert row(page, "dose 線量.csv").count() == 1 and row(page, "report.pdf").count() == 1


def test_preview_pdf_csv_and_dicom(page: Any, api: httpx.Client) -> None:
    from pydicom.data import get_testdata_file

    fileset_id = int(page.locator("#node-page").get_attribute("data-node-id"))
    dicom = Path(get_testdata_file("CT_small.dcm")).read_bytes()  # type: ignore[arg-type]
    up = api.post(
        "/files",
        data={"parent_id": str(fileset_id)},
        files={"file": ("CT_small.dcm", dicom, "application/dicom")},
    )
    assert up.status_code == 201, up.text
    page.reload()
    contents_loaded(page)
    page.click("tr.sf-row[data-name='report.pdf'] [data-action=preview]")
    frame = page.wait_for_selector("#preview-pdf")
    src = frame.get_attribute("src")
    response = page.request.get(src)
    assert response.headers["content-disposition"].startswith("inline")
    assert response.body().startswith(b"%PDF")
    page.click("tr.sf-row[data-name='dose 線量.csv'] [data-action=preview]")
    page.wait_for_selector("#preview-csv >> text=P2")
    page.click("tr.sf-row[data-name='CT_small.dcm'] [data-action=preview]")
    page.wait_for_selector("#dicom-tags >> text=PatientName", timeout=30_000)
    wait_for_js(page, "(document.querySelector('#dicom-image') || {}).naturalWidth > 0")
    shot(page, "06-fileset-dicom-preview")


def test_drag_and_drop_moves_onto_a_folder(page: Any) -> None:
    page.goto("/dashboard/")
    page.click("text=WP2 Imaging")
    contents_loaded(page)
    page.click("#btn-actions")
    page.click("#act-new-folder")
    page.fill("#node-name-input", "Archive")
    page.click("#node-save")
    page.wait_for_selector("#node-name:text-is('Archive')")
    contents_loaded(page)
    page.click("#parent-link a")
    contents_loaded(page)
    row(page, "Paediatric CT").drag_to(row(page, "Archive"))
    page.wait_for_selector("tr.sf-row[data-name='Paediatric CT']", state="detached")
    page.click("tr.sf-row[data-name='Archive'] a.sf-name")
    contents_loaded(page)
    assert row(page, "Paediatric CT").count() == 1


def test_pick_copy_here_and_zip_of_the_selection(page: Any) -> None:
    page.click("tr.sf-row[data-name='Paediatric CT'] a.sf-name")
    contents_loaded(page)
    row(page, "Patient 0042").locator(".sf-pick").check()
    page.wait_for_selector("#picked-summary:not(.d-none)")
    page.click("#picked-summary")
    page.wait_for_selector("#dlg-picked.show")
    page.wait_for_timeout(400)
    shot(page, "07-picked-dialog")
    with page.expect_download() as info:
        page.click("#picked-download")
    archive = zipfile.ZipFile(info.value.path())
    names = archive.namelist()
    assert any(n.endswith("dose 線量.csv") for n in names), names
    page.keyboard.press("Escape")
    page.goto("/dashboard/")
    page.click("text=WP2 Imaging")
    contents_loaded(page)
    page.click("#contents", button="right", position={"x": 400, "y": 5})
    page.click("#context-menu >> text=Copy here")
    page.wait_for_selector("tr.sf-row[data-name='Patient 0042']")
    assert page.evaluate("sessionStorage.getItem('sinfonia.picked')") == "{}"
    shot(page, "08-collection")


def test_delete_and_restore_from_trash(page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    row(page, "Patient 0042").locator("[data-action=delete]").click()
    page.wait_for_selector("tr.sf-row[data-name='Patient 0042']", state="detached")
    page.goto("/trash/")
    shot(page, "09-trash")
    page.locator("tr[data-name='Patient 0042'] button[value=restore]").click()
    page.wait_for_selector(".alert-success")
    page.goto("/dashboard/")
    page.click("text=WP2 Imaging")
    contents_loaded(page)
    assert row(page, "Patient 0042").count() == 1


def test_non_latin_download_name(page: Any) -> None:
    page.click("tr.sf-row[data-name='Patient 0042'] a.sf-name")
    contents_loaded(page)
    with page.expect_download() as info:
        row(page, "dose 線量.csv").locator("[data-action=download]").click()
    assert info.value.suggested_filename == "dose 線量.csv"


def test_contact_form_with_attachment(page: Any, tmp_path: Path) -> None:
    shot_file = tmp_path / "screen.png"
    shot_file.write_bytes(b"\x89PNG\r\n\x1a\n")
    page.goto("/contact/")
    page.check("#topic-privacy")
    page.fill("#subject", "Name left in a header")
    page.fill("#body", "Series 3 of patient 0042 shows a name.")
    page.set_input_files("#attachments", [str(shot_file)])
    shot(page, "10-contact")
    page.click("#contact-send")
    page.wait_for_selector(".alert-success")
    page.goto("/support/messages/")
    assert "Name left in a header" in page.inner_text("main")
    assert page.locator("text=screen.png").count() == 1


def test_other_pages_screenshots(page: Any) -> None:
    for path, name in (("/profile/", "13-profile"),):
        page.goto(path)
        ready(page)
        shot(page, name)
