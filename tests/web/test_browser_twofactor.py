"""Two-factor log-in in a real browser: set up on the profile page (QR code, code from pyotp as
the phone's app would compute it), recovery codes shown, then the two-step log-in."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from tests.transfers.live import USER_PASSWORD, LiveServer
from tests.web.conftest import accept_policy, browser_page, shot, submit_login

pytestmark = pytest.mark.slow


@pytest.fixture
def page(chromium: Any, portal_server: LiveServer) -> Iterator[Any]:
    with browser_page(chromium, portal_server.base_url) as p:
        yield p


def test_enrol_on_the_profile_page_then_log_in_with_a_code(
    page: Any, portal_server: LiveServer
) -> None:
    portal_server.user_key("tessa")
    page.goto("/")
    page.click("#consent-essential")  # the cookie banner would hide the card
    page.goto("/login/")
    submit_login(page, "tessa", USER_PASSWORD)
    accept_policy(page)
    page.wait_for_url(re.compile(r"/$"))

    page.goto("/profile/")
    assert page.inner_text("#two-factor-state") == "Off"
    page.click("#start-2fa")
    page.wait_for_selector("#two-factor-qr")
    qr = page.locator("#two-factor-qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the SVG data URI loads
    secret = page.inner_text("#two-factor-secret").strip()
    page.locator("#two-factor").scroll_into_view_if_needed()
    shot(page, "22-profile-2fa")

    totp = pyotp.TOTP(secret)
    page.fill("#two-factor-code", totp.now())
    page.click("#confirm-2fa")
    page.wait_for_selector("#recovery-codes")
    assert page.inner_text("#two-factor-state") == "On"
    assert len(page.locator("#recovery-codes li").all_inner_texts()) == 10

    page.click("#user-menu")
    page.click("#logout")
    page.goto("/login/")
    submit_login(page, "tessa", USER_PASSWORD)
    page.wait_for_url(re.compile(r"/login/code/$"))
    page.fill("#id_code", totp.at(time.time() + 30))  # the next step's: each code works once
    page.click("#code-submit")
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("#user-menu").is_visible()
