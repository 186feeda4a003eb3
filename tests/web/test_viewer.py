"""The OHIF Viewer at /viewer/ in a real browser against a live server: sign-in first, then a
study stored through STOW-RS opens with its pixels drawn, under the viewer's own
Content-Security-Policy and without errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sinfonia.web.viewer import CSP
from tests.dicom.dicomweb_helpers import BOUNDARY, STOW_TYPE, multipart_body
from tests.dicom.series import ct_series, part10
from tests.transfers.live import USER_PASSWORD, LiveServer
from tests.web.conftest import SCREENSHOTS

USER = "viewer-user"


@pytest.fixture(scope="module")
def study(portal_server: LiveServer) -> str:
    """A small CT series of 64x64 gradients stored by USER through STOW-RS; its study UID."""
    series = ct_series(6, patient_id="VIEW-1", description="Viewer test")
    for ds in series:
        ds.Rows = ds.Columns = 64
        ds.PixelData = bytes(
            (x * 4 + y + 37 * int(ds.InstanceNumber)) % 256
            for y in range(64)
            for x in range(64)
            for _ in range(2)
        )
    key = portal_server.user_key(USER)
    response = httpx.post(
        f"{portal_server.base_url}/dicom-web/studies",
        content=multipart_body([part10(ds) for ds in series]),
        headers={"Authorization": f"Bearer {key}", "Content-Type": STOW_TYPE},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert BOUNDARY in STOW_TYPE
    return str(series[0].StudyInstanceUID)


@pytest.fixture(scope="module")
def first_file(portal_server: LiveServer, study: str) -> int:
    """The file id of the study's first instance, where STOW-RS filed it."""
    with portal_server.client(portal_server.user_key(USER)) as api:
        found = api.get(
            "/resource/lookup", params={"path": f"/~{USER}/DICOM/VIEW-1/20240317 CT chest"}
        )
        assert found.status_code == 200, found.text
        (series,) = api.get(f"/resources/{found.json()['id']}/children").json()["items"]
        files = api.get(f"/resources/{series['id']}/children").json()["items"]
    return int(min(files, key=lambda f: f["name"])["id"])


@pytest.fixture
def viewer_page(chromium: Any, portal_server: LiveServer) -> Iterator[tuple[Any, list[str]]]:
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, base_url=portal_server.base_url
    )
    context.set_default_timeout(60_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield page, problems
    context.close()


def sign_in(page: Any, then: str) -> None:
    page.goto(then)
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("#id_username", USER)
    page.fill("#id_password", USER_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    if "/privacy/accept/" in page.url:
        page.check("#accept")
        page.click("#accept-submit")
        page.wait_for_load_state()
    page.goto(then)


def drawn_pixels(page: Any) -> int:
    """The most distinct grey levels in any canvas of the page (0 when none is drawn)."""
    return int(
        page.evaluate(
            """() => Math.max(0, ...[...document.querySelectorAll('canvas')].map(c => {
                if (!c.width || !c.height) return 0;
                const ctx = c.getContext('2d');
                if (!ctx) return 0;
                const data = ctx.getImageData(0, 0, c.width, c.height).data;
                const levels = new Set();
                for (let i = 0; i < data.length; i += 4 * 7) levels.add(data[i]);
                return levels.size;
            }))"""
        )
    )


def test_the_viewer_needs_a_sign_in_and_has_its_own_policy(portal_server: LiveServer) -> None:
    response = httpx.get(f"{portal_server.base_url}/viewer/", follow_redirects=False)
    assert response.status_code == 302 and "/login/" in response.headers["location"]
    key = portal_server.user_key(USER)
    config = httpx.get(
        f"{portal_server.base_url}/viewer/app-config.js",
        headers={"Authorization": f"Bearer {key}"},
        follow_redirects=False,
    )
    assert config.status_code == 302  # the viewer is for the portal session, not API keys


def test_a_study_opens_in_the_viewer(viewer_page: tuple[Any, list[str]], study: str) -> None:
    page, problems = viewer_page
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r))
    sign_in(page, f"/viewer/viewer?StudyInstanceUIDs={study}")
    page.wait_for_selector("canvas")
    page.wait_for_function(
        """() => [...document.querySelectorAll('canvas')].some(c => {
            if (!c.width || !c.height) return false;
            const ctx = c.getContext('2d');
            if (!ctx) return false;
            const data = ctx.getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < data.length; i += 4) if (data[i] > 16) return true;
            return false;
        })""",
        timeout=90_000,
    )
    page.wait_for_timeout(1000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "viewer-study.png"))
    assert drawn_pixels(page) > 16
    html = [r for r in responses if r.url.endswith(f"StudyInstanceUIDs={study}")][-1]
    assert html.status == 200 and html.headers["content-security-policy"] == CSP
    assert not [r.url for r in responses if r.status >= 400]
    assert not problems, problems


def test_the_dicom_preview_links_to_the_viewer(
    viewer_page: tuple[Any, list[str]], study: str, first_file: int
) -> None:
    page, problems = viewer_page
    sign_in(page, f"/r/{first_file}/preview/")
    link = page.locator("#open-viewer")
    assert link.get_attribute("href") == f"/viewer/viewer?StudyInstanceUIDs={study}"
    assert link.get_attribute("title")
    assert not problems, problems
