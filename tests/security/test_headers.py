"""Response headers: the portal's Content-Security-Policy, nosniff everywhere, stored files that
never run in the browser, HSTS and secure cookies behind HTTPS, and the password policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client

from sinfonia.web.security import ContentSecurityPolicyMiddleware
from tests.transfers.live import LiveServer, running


@pytest.mark.django_db
def test_portal_pages_carry_the_content_security_policy(client: Client):
    response = client.get("/login/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "object-src 'none'",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS


@pytest.mark.django_db
def test_json_answers_are_nosniff_and_carry_no_page_policy(admin_api):
    response = admin_api.get("/users/me")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response


def test_a_response_with_its_own_policy_keeps_it():
    def viewer(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("<html></html>", content_type="text/html")
        response["Content-Security-Policy"] = "script-src 'self' 'wasm-unsafe-eval'"
        return response

    kept = ContentSecurityPolicyMiddleware(viewer)(HttpRequest())
    assert kept["Content-Security-Policy"] == "script-src 'self' 'wasm-unsafe-eval'"


ACTIVE = {
    "page.html": b"<html><script>alert(document.cookie)</script></html>",
    "image.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "data.xml": b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">'
    b"alert(1)</x:script>",
    "code.js": b"alert(1)",
}


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_stored_html_svg_xml_and_scripts_are_never_served_to_run(admin_api, name):
    coll = admin_api.ok(admin_api.post("/collections", {"name": "Active"}), 201)
    f = admin_api.ok(admin_api.upload(coll["id"], name, ACTIVE[name]), 201)
    for query in ("", "?inline=1"):
        response = admin_api.get(f"/api/v1/files/{f['id']}/download{query}")
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"].startswith("sandbox;")
        assert "default-src 'none'" in response["Content-Security-Policy"]


def test_media_shown_in_place_is_inline_without_the_sandbox(admin_api):
    coll = admin_api.ok(admin_api.post("/collections", {"name": "Media"}), 201)
    f = admin_api.ok(admin_api.upload(coll["id"], "note.txt", b"hello"), 201)
    response = admin_api.get(f"/api/v1/files/{f['id']}/download?inline=1")
    assert response["Content-Disposition"].startswith("inline;")
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Short-1", "too short"),
        ("1234567890123", "entirely numeric"),
        ("password123", "too common"),
        ("Mallory2024!", "too similar"),
    ],
)
def test_the_password_policy_refuses_weak_passwords(admin_api, password, reason):
    response = admin_api.post("/users", {"username": "mallory", "password": password})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "weak_password"
    assert reason in response.json()["detail"]
    ok = admin_api.post("/users", {"username": "mallory", "password": "Tr0ub4dor-&-3-horse"})
    assert ok.status_code == 201


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server configured as behind a TLS proxy (SINFONIA_HTTPS=1)."""
    with running(tmp_path_factory.mktemp("https"), settings={"SINFONIA_HTTPS": "1"}) as server:
        yield server


def test_behind_https_pages_send_hsts_and_cookies_are_secure(https_server: LiveServer):
    import httpx

    proxied = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=https_server.base_url, headers=proxied) as browser:
        page = browser.get("/login/")
        assert page.status_code == 200
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        csrf = page.cookies.jar
        cookie = next(c for c in csrf if c.name == "csrftoken")
        assert cookie.secure
        signed_in = browser.post(
            "/login/",
            data={
                "username": "admin",
                "password": "Transfers-admin-Pass-1",
                "csrfmiddlewaretoken": cookie.value,
            },
            headers={
                # a Secure cookie never travels over the plain-HTTP leg from the proxy: the
                # client (httpx, like a browser) holds it back, so it is sent by hand here
                "Cookie": f"csrftoken={cookie.value}",
                "Origin": f"https://{page.url.host}:{page.url.port}",
            },
        )
        assert signed_in.status_code == 302, signed_in.text[:300]
        session = signed_in.headers.get_list("set-cookie")
        assert any(c.startswith("sessionid=") and "Secure" in c for c in session), session
        assert any("HttpOnly" in c for c in session if c.startswith("sessionid="))
    with httpx.Client(base_url=https_server.base_url) as plain:
        # the proxy is the only way in: without its header the request is not HTTPS, no HSTS
        assert "Strict-Transport-Security" not in plain.get("/login/").headers
