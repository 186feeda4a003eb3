"""Account and group management in a real browser: a site administrator creates an account
(password shown once), makes it a site administrator and resets its password; the new account
signs in with it; a group is created, edited and deleted through its dialogs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.transfers.live import ADMIN_PASSWORD, LiveServer
from tests.web.conftest import browser_page, ready, shot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(chromium: Any, portal_server: LiveServer) -> Iterator[Any]:
    with browser_page(chromium, portal_server.base_url) as p:
        sign_in(p, "admin", ADMIN_PASSWORD)
        yield p


def test_admin_creates_promotes_and_resets_an_account(
    page: Any, chromium: Any, portal_server: LiveServer
) -> None:
    page.goto("/users/")
    ready(page)
    page.click("#btn-new-user")
    page.wait_for_selector("#dlg-new-user.show")
    page.fill("#new-username", "fiona")
    page.fill("#new-first-name", "Fiona")
    page.fill("#new-last-name", "Ward")
    page.fill("#new-email", "fiona@example.org")
    page.click("#new-user-save")
    page.wait_for_selector("#new-password")
    first = page.inner_text("#new-password")
    assert len(first) >= 16
    shot(page, "11-users")
    page.click("#new-account a")
    ready(page)
    page.click("#user-grant-admin")
    page.wait_for_selector("#badge-admin")
    page.click("#user-reset-password")
    page.wait_for_selector("#new-password")
    second = page.inner_text("#new-password")
    assert second != first
    shot(page, "20-user-account")
    with browser_page(chromium, portal_server.base_url) as other:
        sign_in(other, "fiona", second)
        ready(other)
        assert other.locator("a.nav-link[href='/support/messages/']").count() == 1  # admin menu


def test_create_edit_and_delete_a_group(page: Any) -> None:
    page.goto("/groups/")
    ready(page)
    page.click("#btn-new-group")
    page.wait_for_selector("#dlg-new-group.show")
    page.fill("#new-group-name", "Radiobiology")
    page.fill("#new-group-description", "WP4 partners")
    page.click("#new-group-save")
    page.wait_for_url(re.compile(r"/groups/\d+/$"))
    assert "public" in page.inner_text("#group-visibility")
    page.click("#btn-edit-group")
    page.wait_for_selector("#dlg-edit-group.show")
    page.fill("#edit-group-name", "Radiobiology WP4")
    page.uncheck("#edit-group-public")
    page.click("#edit-group-save")
    page.wait_for_selector("#group-name:has-text('Radiobiology WP4')")
    assert "private" in page.inner_text("#group-visibility")
    page.goto("/groups/")
    ready(page)
    assert "Radiobiology WP4" in page.inner_text("#my-groups")
    shot(page, "12-groups")
    page.click("#my-groups a:has-text('Radiobiology WP4')")
    ready(page)
    page.click("#btn-delete-group")
    page.wait_for_selector("#dlg-delete-group.show")
    page.click("#delete-group-confirm")
    page.wait_for_url(re.compile(r"/groups/$"))
    assert "Radiobiology" not in page.inner_text("#my-groups")
