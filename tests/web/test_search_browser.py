"""The portal's search in a real browser (Chromium through Playwright) against a live server:
the shareable link through the log-in redirect, the header's quick search and its results
dialog, links opening new tabs, the advanced dialog building a negated two-criteria query,
and the folder scope. Screenshots 15 (advanced dialog) and 16 (results), light and dark."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.transfers.live import USER_PASSWORD, LiveServer
from tests.web.conftest import (
    CONSENT,
    accept_policy,
    browser_page,
    ready,
    shot,
    submit_login,
    wait_for_js,
)

pytestmark = pytest.mark.slow

USER = "searcher"


@pytest.fixture(scope="module")
def places(portal_server: LiveServer) -> dict[str, int]:
    """A collection the searcher may read, with files uploaded into folders (each in a fileset
    of its own name), and one of the administrator's that the searcher may not see."""
    portal_server.user_key(USER)
    ids: dict[str, int] = {}
    with portal_server.client() as api:

        def made(response: httpx.Response) -> int:
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

        def upload(parent: int, name: str, data: bytes) -> None:
            files = {"file": (name, data)}
            ids[name] = made(api.post("/files", data={"parent_id": str(parent)}, files=files))

        coll = made(api.post("/collections", json={"name": "Imaging Thorax"}))
        acl = {"entries": [{"user": "admin", "level": "admin"}, {"user": USER, "level": "read"}]}
        assert api.put(f"/resources/{coll}/acl", json=acl).status_code == 200
        for folder in ("Baseline", "Follow-up"):
            body = {"parent_id": coll, "name": folder, "description": "CT of the chest"}
            ids[folder] = made(api.post("/folders", json=body))
        upload(ids["Baseline"], "thorax report.pdf", b"%PDF-1.4 baseline")
        upload(ids["Baseline"], "thorax notes.txt", b"notes")
        upload(ids["Follow-up"], "thorax follow-up.pdf", b"%PDF-1.4 follow-up")
        secret = made(api.post("/collections", json={"name": "Secret thorax"}))
        upload(secret, "thorax secret.txt", b"secret")
    return ids


@pytest.fixture(scope="module")
def page(chromium: Any, portal_server: LiveServer, places: dict[str, int]) -> Iterator[Any]:
    with browser_page(chromium, portal_server.base_url) as p:
        p.context.grant_permissions(["clipboard-read", "clipboard-write"])
        # The cookie choice is made (test_browser.py tests the banner): it would hide dialogs.
        p.context.add_init_script(CONSENT)
        yield p


def hit_names(root: Any) -> list[str]:
    names: list[str] = root.locator(".sf-hit").evaluate_all("els => els.map(e => e.dataset.name)")
    return names


def results_dialog(page: Any) -> Any:
    page.wait_for_selector("#dlg-search.show #search-results")
    page.wait_for_load_state("networkidle")
    return page.locator("#dlg-search")


def test_a_shared_link_shows_its_results_after_logging_in(page: Any) -> None:
    page.goto("/search/?q=thorax%20kind:file&sort=name")
    page.wait_for_url(re.compile(r"/login/"))
    submit_login(page, USER, USER_PASSWORD)
    accept_policy(page)
    page.wait_for_url(re.compile(r"/search/\?q=thorax"))
    ready(page)
    assert page.input_value("#search-page-input") == "thorax kind:file"
    # one hit per uploaded file (not also its one-file fileset), by name, none of the secret
    assert hit_names(page.locator("#search-results")) == [
        "thorax follow-up.pdf",
        "thorax notes.txt",
        "thorax report.pdf",
    ]
    # on the results page, the header's box shows its results on the page too
    page.fill("#quick-search-input", "notes")
    page.press("#quick-search-input", "Enter")
    page.wait_for_url(re.compile(r"/search/\?q=notes$"))
    assert hit_names(page.locator("#search-results")) == ["thorax notes.txt"]


def test_quick_search_shows_the_results_dialog(page: Any) -> None:
    page.goto("/dashboard/")
    ready(page)
    page.fill("#quick-search-input", "thorax")
    page.press("#quick-search-input", "Enter")
    dialog = results_dialog(page)
    names = hit_names(dialog)
    assert set(names) == {
        "Imaging Thorax",
        "thorax follow-up.pdf",
        "thorax notes.txt",
        "thorax report.pdf",
    }
    assert "Secret thorax" not in dialog.inner_text()
    assert dialog.locator("mark").first.inner_text().lower() == "thorax"
    page.select_option("#search-sort", "name")
    page.select_option("#search-order", "desc")
    wait_for_js(page, "document.querySelector('#search-share-url').value.includes('order=desc')")
    page.wait_for_load_state("networkidle")
    assert hit_names(dialog) == sorted(names, key=str.lower, reverse=True)
    shot(page, "16-search-results")
    page.click("#search-copy-link")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.input_value("#search-share-url")
    assert re.search(r"/search/\?q=thorax&sort=name&order=desc$", copied), copied


def test_a_result_opens_in_a_new_tab(page: Any, places: dict[str, int]) -> None:
    link = page.locator(".sf-hit[data-name='thorax notes.txt'] .sf-hit-link")
    assert link.get_attribute("target") == "_blank" and link.get_attribute("rel") == "noopener"
    with page.context.expect_page() as info:
        link.click()
    tab = info.value
    tab.wait_for_load_state()
    # a file opens its fileset's page with the file previewed
    assert re.search(rf"\?preview={places['thorax notes.txt']}$", tab.url), tab.url
    assert tab.locator("#node-page").count() == 1
    tab.close()
    assert page.locator("#dlg-search.show").count() == 1  # the results are still there
    page.keyboard.press("Escape")


def test_advanced_dialog_builds_a_negated_two_criteria_query(page: Any) -> None:
    page.goto("/dashboard/")
    ready(page)
    page.click("#advanced-button")
    page.wait_for_selector("#dlg-advanced.show #adv-rows .sf-adv-row")
    first = page.locator(".sf-adv-row").nth(0)
    first.locator(".sf-adv-v:visible").fill("thorax")
    page.click("#adv-add")
    second = page.locator(".sf-adv-row").nth(1)
    second.locator(".sf-adv-field").select_option("name")
    second.locator(".sf-adv-v:visible").fill("report")
    second.locator(".sf-adv-not").check()
    assert page.inner_text("#adv-query") == "thorax -name:report"
    # a third row, then removed: the query follows
    page.click("#adv-add")
    third = page.locator(".sf-adv-row").nth(2)
    third.locator(".sf-adv-field").select_option("dicom")
    third.locator(".sf-adv-key:visible").fill("0018,0050")
    third.locator(".sf-adv-v:visible").fill(">2")
    assert page.inner_text("#adv-query") == "thorax -name:report tag:0018,0050=>2"
    page.wait_for_timeout(300)
    shot(page, "15-search-dialog")
    third.locator("[data-search=remove-row]").click()
    assert page.inner_text("#adv-query") == "thorax -name:report"
    page.click("#advanced-search")
    dialog = results_dialog(page)
    assert page.inner_text("#search-query-shown") == "thorax -name:report"
    assert set(hit_names(dialog)) == {"Imaging Thorax", "thorax notes.txt", "thorax follow-up.pdf"}
    assert page.input_value("#quick-search-input") == "thorax -name:report"
    page.keyboard.press("Escape")


def test_quick_search_in_this_folder(page: Any, places: dict[str, int]) -> None:
    page.goto(f"/r/{places['Follow-up']}/")
    ready(page)
    page.select_option("#quick-search-scope", "/Imaging Thorax/Follow-up")
    page.fill("#quick-search-input", "thorax")
    page.press("#quick-search-input", "Enter")
    dialog = results_dialog(page)
    assert hit_names(dialog) == ["thorax follow-up.pdf"]
    query = 'thorax under:"/Imaging Thorax/Follow-up"'
    assert page.inner_text("#search-query-shown") == query
    # Refine: the advanced dialog starts from that query, and a criterion narrows it
    page.click("#search-refine")
    page.wait_for_selector("#dlg-advanced.show")
    rows = page.locator(".sf-adv-row")
    assert rows.nth(0).locator(".sf-adv-v:visible").input_value() == query
    assert rows.nth(0).locator(".sf-adv-not").is_disabled()
    assert page.inner_text("#adv-query") == query
    rows.nth(1).locator(".sf-adv-field").select_option("kind")
    rows.nth(1).locator(".sf-adv-v:visible").select_option("file")
    rows.nth(1).locator(".sf-adv-not").check()
    assert page.inner_text("#adv-query") == query + " -kind:file"
    page.click("#advanced-search")
    dialog = results_dialog(page)
    assert page.inner_text("#search-query-shown") == query + " -kind:file"
    # not the file: its fileset, which only matched alongside it before, is the hit now
    assert hit_names(dialog) == ["thorax follow-up.pdf"]
    assert dialog.locator(".sf-hit").get_attribute("data-kind") == "fileset"
    page.keyboard.press("Escape")
