"""The previewer and download toasts in a real browser against a live ``sinfonia serve``
(its worker converts office documents with LibreOffice): an office file shown as PDF, DICOM
window presets, frames and series scrolling, and a ZIP download with its progress toast."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.transfers.live import ADMIN_PASSWORD, LiveServer, running
from tests.web.conftest import browser_page, shot, sign_in, wait_for_js
from tests.web.office_files import docx, is_pdf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice"),
]

VIEWER = "/viewer/viewer?StudyInstanceUIDs={study}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: the study viewer's button is configured here."""
    root = tmp_path_factory.mktemp("preview")
    with running(root, collection="Previews", settings={"SINFONIA_VIEWER_URL": VIEWER}) as s:
        yield s


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def series_of_three() -> list[bytes]:
    """CT_small as three instances of one series, each brighter than the last."""
    out = []
    source = get_testdata_file("CT_small.dcm")
    series = generate_uid()
    for number in (1, 2, 3):
        ds = pydicom.dcmread(source)  # type: ignore[arg-type]
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = number
        pixels = ds.pixel_array
        ds.PixelData = (pixels + (number - 1) * 150).astype(pixels.dtype).tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer)
        out.append(buffer.getvalue())
    return out


@pytest.fixture(scope="module")
def fileset(server: LiveServer, api: httpx.Client) -> dict[str, int]:
    """A fileset holding a .docx, three CT slices and two larger files; name → id."""
    made = api.post("/filesets", json={"parent_id": server.collection_id, "name": "Patient 9"})
    assert made.status_code == 201, made.text
    ids = {"fileset": made.json()["id"]}
    uploads = [("minutes.docx", docx("Minutes of the imaging board"))]
    uploads += [(f"CT{n}.dcm", data) for n, data in enumerate(series_of_three(), 1)]
    uploads += [("big-a.bin", b"a" * 3_000_000), ("big-b.bin", b"b" * 2_000_000)]
    dose = Path(get_testdata_file("rtdose.dcm")).read_bytes()  # type: ignore[arg-type]
    uploads += [("dose.dcm", dose)]  # 15 frames
    for name, data in uploads:
        parent = {"parent_id": str(ids["fileset"])}
        up = api.post("/files", data=parent, files={"file": (name, data)})
        assert up.status_code == 201, up.text
        ids[name] = up.json()["id"]
    return ids


@pytest.fixture(scope="module")
def page(chromium: Any, server: LiveServer) -> Iterator[Any]:
    with browser_page(chromium, server.base_url, timeout_ms=20_000, accept_downloads=True) as p:
        sign_in(p, "admin", ADMIN_PASSWORD)
        yield p


def open_preview(page: Any, fileset: dict[str, int], name: str) -> None:
    page.goto(f"/r/{fileset['fileset']}/?preview={fileset[name]}")
    page.wait_for_selector("html[data-portal-ready='1']")
    page.wait_for_selector(f"#preview-body[data-file-id='{fileset[name]}']")


def image_loaded(page: Any) -> None:
    wait_for_js(
        page,
        "(() => { const i = document.querySelector('#dicom-image');"
        " return i && i.complete && i.naturalWidth > 0; })()",
    )


def test_office_document_is_shown_as_pdf(
    page: Any, fileset: dict[str, int], api: httpx.Client
) -> None:
    open_preview(page, fileset, "minutes.docx")
    # First "Converting…" (the worker has not run yet, or just started), then the PDF.
    page.wait_for_selector("#preview-converting, #preview-office-pdf")
    frame = page.wait_for_selector("#preview-office-pdf", timeout=90_000)
    assert frame.get_attribute("src") == f"/api/v1/files/{fileset['minutes.docx']}/pdf"
    response = page.request.get(frame.get_attribute("src"))
    assert response.headers["content-type"] == "application/pdf"
    assert is_pdf(response.body())
    page.wait_for_timeout(1500)  # the browser's PDF viewer draws the page
    shot(page, "25-office-preview")
    assert is_pdf(api.get(f"/files/{fileset['minutes.docx']}/pdf").content)


def test_dicom_window_preset_frames_and_series(page: Any, fileset: dict[str, int]) -> None:
    open_preview(page, fileset, "CT1.dcm")
    image_loaded(page)
    default = page.locator("#dicom-image").screenshot()
    page.select_option("#dicom-preset", label="Bone (400 / 1800)")
    wait_for_js(page, "document.querySelector('#dicom-image').src.includes('window_center=400')")
    image_loaded(page)
    bone = page.locator("#dicom-image").screenshot()
    assert bone != default
    assert page.input_value("#dicom-center") == "400" and page.input_value("#dicom-width") == "1800"
    # A custom window, typed in.
    page.fill("#dicom-center", "40")
    page.fill("#dicom-width", "0")
    page.click("#dicom-apply")
    page.wait_for_selector("#dicom-error:not(.d-none)")
    page.fill("#dicom-width", "80")
    page.press("#dicom-width", "Enter")
    wait_for_js(page, "document.querySelector('#dicom-image').src.includes('window_width=80')")
    assert page.input_value("#dicom-preset") == "40,80"  # that is the brain preset
    # Series scrolling: the arrow keys and the buttons, in Instance Number order.
    page.wait_for_selector("#series-position:text-is('1 / 3')")
    page.locator("#preview-body h2").click()  # focus leaves the inputs
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#series-position:text-is('2 / 3')")
    src = page.get_attribute("#dicom-image", "src")
    assert f"/files/{fileset['CT2.dcm']}/" in src and "window_width=80" in src  # window kept
    assert page.inner_text("#series-file") == "CT2.dcm (2)"
    page.click("#series-next")
    page.wait_for_selector("#series-position:text-is('3 / 3')")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#series-position:text-is('2 / 3')")
    image_loaded(page)
    page.select_option("#dicom-preset", label="Soft tissue (50 / 400)")
    image_loaded(page)
    viewer = page.locator("#open-viewer")
    assert viewer.get_attribute("href").startswith("/viewer/viewer?StudyInstanceUIDs=1.")
    page.evaluate("document.querySelector('#previewer').scrollIntoView()")
    shot(page, "26-dicom-controls")
    assert page.locator("#dicom-frames.d-none").count() == 1  # one frame: no slider


def test_frames_of_a_multiframe_instance(page: Any, fileset: dict[str, int]) -> None:
    open_preview(page, fileset, "dose.dcm")
    image_loaded(page)
    page.wait_for_selector("#dicom-frames:not(.d-none)")
    assert page.inner_text("#dicom-frame-label") == "1 / 15"
    page.locator("#preview-body h2").click()
    page.keyboard.press("ArrowDown")
    wait_for_js(page, "document.querySelector('#dicom-image').src.endsWith('frame=1')")
    page.locator("#dicom-frame").fill("7")
    wait_for_js(page, "document.querySelector('#dicom-image').src.endsWith('frame=7')")
    assert page.inner_text("#dicom-frame-label") == "8 / 15"
    image_loaded(page)
    assert page.locator("#dicom-error.d-none").count() == 1


def test_zip_download_shows_a_progress_toast(
    page: Any, fileset: dict[str, int], tmp_path: Path
) -> None:
    page.goto(f"/r/{fileset['fileset']}/")
    page.wait_for_selector("#children-table")
    page.wait_for_load_state("networkidle")
    for name in ("big-a.bin", "big-b.bin"):
        page.locator(f"tr.sf-row[data-name='{name}'] .sf-pick").check()
    page.click("#picked-summary")
    page.wait_for_selector("#dlg-picked.show")
    with page.expect_download() as info:
        page.click("#picked-download")
    page.wait_for_selector(".sf-download[data-state='done']", timeout=30_000)
    toast = page.inner_text(".sf-download")
    assert "selection.zip" in toast and "4.8 MB / 4.8 MB" in toast and "/s" in toast, toast
    shot(page, "27-download-toast")
    with zipfile.ZipFile(info.value.path()) as archive:
        assert sorted(archive.namelist()) == ["big-a.bin", "big-b.bin"]
        assert archive.read("big-b.bin") == b"b" * 2_000_000


def test_context_menu_download_of_a_fileset(page: Any, server: LiveServer) -> None:
    page.goto(f"/r/{server.collection_id}/")
    page.wait_for_selector("#children-table")
    page.wait_for_load_state("networkidle")
    page.evaluate("document.querySelectorAll('.sf-download').forEach((t) => t.remove())")
    page.locator("tr.sf-row[data-name='Patient 9'] a.sf-name").click(button="right")
    with page.expect_download() as info:
        page.click("#context-menu >> text=Download")
    done = page.wait_for_selector(".sf-download[data-state='done']", timeout=30_000)
    assert "Patient 9.zip" in done.inner_text()
    with zipfile.ZipFile(info.value.path()) as archive:
        assert "Patient 9/minutes.docx" in archive.namelist()


def test_a_refused_download_says_why(page: Any, fileset: dict[str, int]) -> None:
    page.evaluate("window.sinfoniaDownload('/api/v1/archive?ids=987654321', 'nothing.zip')")
    failed = page.wait_for_selector(".sf-download[data-state='failed']", timeout=30_000)
    text = failed.inner_text()
    assert "nothing.zip" in text and "failed: No such element, or you may not see it." in text
