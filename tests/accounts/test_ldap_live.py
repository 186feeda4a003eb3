"""Directory sign-in on a real ``sinfonia serve`` (HTTP and SFTP) pointed at a real slapd:
portal form, REST session and SFTP password log-in; a locked account refused by all three."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest

from tests.accounts.conftest import PASSWORD
from tests.accounts.ldap_server import Directory
from tests.sftp.live import SftpServer
from tests.transfers.live import SINFONIA, free_port, running
from tests.web.conftest import accept_policy, browser_page, shot, submit_login

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(directory: Directory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    root = tmp_path_factory.mktemp("ldap-live")
    (root / "keys").mkdir()
    with running(
        root,
        SftpServer,
        settings=directory.env(),
        sftp_port=free_port(),
        keys_dir=root / "keys",
        dicom_port=free_port(),
    ) as live:
        assert isinstance(live, SftpServer)
        yield live


def portal_sign_in(server: SftpServer, username: str, password: str = PASSWORD) -> bool:
    """The portal's sign-in form, as a browser posts it (CSRF token from the form)."""
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        form = web.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None, form.text[:500]
        response = web.post(
            "/login/",
            data={"csrfmiddlewaretoken": token[1], "username": username, "password": password},
            headers={"Referer": f"{server.base_url}/login/"},
        )
        if response.status_code != 302:
            return False
        me = web.get("/api/v1/users/me")
        return me.status_code == 200 and me.json()["username"] == username


def api_sign_in(server: SftpServer, username: str, password: str = PASSWORD) -> int:
    with httpx.Client(base_url=server.api_url, timeout=30) as api:
        response = api.post("/session", json={"username": username, "password": password})
        if response.status_code == 200:
            assert response.json()["user"]["username"] == username
        return response.status_code


def sftp_listing(server: SftpServer, username: str, password: str = PASSWORD) -> list[str]:
    transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
    try:
        transport.connect(username=username, password=password)
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        return sorted(client.listdir("/repository"))
    finally:
        transport.close()


def test_first_sign_in_by_sftp_then_portal_and_api(
    server: SftpServer, directory: Directory, uid: str
) -> None:
    directory.add_person(uid, PASSWORD)
    # SFTP first: the account and its personal collection are made on the way in
    assert f"~{uid}" in sftp_listing(server, uid)
    assert portal_sign_in(server, uid)
    assert api_sign_in(server, uid) == 200
    assert api_sign_in(server, uid, "not-the-Password-1") == 401


def test_locked_account_is_refused_everywhere(
    server: SftpServer, directory: Directory, uid: str
) -> None:
    directory.add_person(uid, PASSWORD)
    assert api_sign_in(server, uid) == 200  # known to Sinfonia before the lock
    directory.lock(uid)
    try:
        assert not portal_sign_in(server, uid)
        assert api_sign_in(server, uid) == 401
        with pytest.raises(paramiko.AuthenticationException):
            sftp_listing(server, uid)
    finally:
        directory.unlock(uid)
    assert f"~{uid}" in sftp_listing(server, uid)


def echo(server: SftpServer, aet: str) -> subprocess.CompletedProcess[str]:
    peer = ["127.0.0.1", str(server.dicom_port)]
    return subprocess.run(
        ["echoscu", "-aet", aet, "-aec", "SINFONIA", *peer],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ae_title_mapped_to_a_person_who_never_signed_in(
    server: SftpServer, directory: Directory, uid: str
) -> None:
    assert shutil.which("echoscu"), "DCMTK's echoscu is missing: ./run test installs dcmtk"
    directory.add_person(uid, PASSWORD)
    aet = f"LDAP{secrets.token_hex(3).upper()}"
    assert echo(server, aet).returncode != 0  # not mapped yet: rejected at association
    assert uid in server.cli("dicom", "ae", "add", aet, "--user", uid)
    done = echo(server, aet)
    assert done.returncode == 0, done.stdout + done.stderr
    # the account made for the mapping is the one the person signs in to
    assert f"~{uid}" in sftp_listing(server, uid)

    unknown = subprocess.run(
        [str(SINFONIA), "dicom", "ae", "add", f"{aet}X", "--user", f"x{uid}",
         "--data", str(server.data)],
        env=server.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unknown.returncode != 0
    assert f"No user named 'x{uid}'" in unknown.stderr


def test_browser_sign_in_and_profile(
    server: SftpServer, directory: Directory, chromium: Any
) -> None:
    """A directory person signs in to the portal in Chromium; their profile says the password
    is the directory's (docs/screenshots/profile-ldap-light.png and -dark.png)."""
    uid = "rfranklin"  # a fixed name: the screenshots stay the same from run to run
    directory.add_person(uid, PASSWORD, given="Rosalind", surname="Franklin")
    with browser_page(chromium, server.base_url, timeout_ms=30_000) as page:
        page.goto("/login/")
        submit_login(page, uid, PASSWORD)
        accept_policy(page)
        page.wait_for_url(re.compile(r"/$"))
        page.goto("/profile/")
        page.click("#consent-essential")  # the cookie notice would hide the card
        assert page.locator("#p-first").input_value() == "Rosalind"
        assert page.locator("#directory-account").is_visible()
        assert page.locator("input[name=new]").count() == 0
        shot(page, "profile-ldap")


def test_serve_deactivates_a_locked_account_whose_api_key_is_in_use(
    directory: Directory, uid: str, tmp_path: Path
) -> None:
    """API keys never reach the directory: ``serve`` checks the directory accounts every
    SINFONIA_LDAP_SYNC_SECONDS and deactivates locked ones, which ends their keys."""
    directory.add_person(uid, PASSWORD)
    fast = directory.env(SINFONIA_LDAP_SYNC_SECONDS="1")
    with running(tmp_path, settings=fast) as live:
        key = live.cli("apikey", "create", uid).strip()  # names the person: account made
        with live.client(key) as api:
            assert api.get("/users/me").status_code == 200
            directory.lock(uid)
            try:
                deadline = time.monotonic() + 30
                while api.get("/users/me").status_code == 200:
                    assert time.monotonic() < deadline, live.log()
                    time.sleep(0.3)
                assert api.get("/users/me").status_code == 401
            finally:
                directory.unlock(uid)
        assert f"deactivated {uid}: locked in the directory" in live.log()
