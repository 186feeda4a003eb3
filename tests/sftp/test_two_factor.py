"""SFTP log-in of accounts with two-factor log-in (SSH keys or an API key as "app password",
never the password alone), and SFTP failures counted by the same log-in throttle as the
portal and the API."""

from __future__ import annotations

import httpx
import paramiko
import pyotp
import pytest

from tests.sftp.live import SftpServer
from tests.transfers.live import USER_PASSWORD

pytestmark = pytest.mark.slow


def enrol(live: SftpServer, key: str) -> None:
    with live.client(key) as api:
        secret = api.post("/users/me/two-factor").json()["secret"]
        confirmed = api.post(
            "/users/me/two-factor/confirm", json={"code": pyotp.TOTP(secret).now()}
        )
        assert confirmed.status_code == 200, confirmed.text


def test_two_factor_accounts_use_keys_or_an_api_key(live: SftpServer, uid: str) -> None:
    user, other = f"t{uid}", f"o{uid}"
    key = live.user(user)
    live.ssh_key(user)  # registered before, still good after
    enrol(live, key)
    with pytest.raises(paramiko.AuthenticationException):
        live.paramiko(user, password=USER_PASSWORD)
    client = live.paramiko(user, password=key)
    try:
        assert sorted(client.listdir("/")) == ["home", "repository"]
    finally:
        client.close()
    assert "Remote working directory: /" in live.sftp(user, "pwd\n").stdout
    # someone else's key is no app password of this account
    with pytest.raises(paramiko.AuthenticationException):
        live.paramiko(user, password=live.user(other))


def test_sftp_failures_lock_the_account_everywhere(live: SftpServer, uid: str) -> None:
    user = f"l{uid}"
    live.user(user)
    for _ in range(5):  # SINFONIA_LOGIN_MAX_FAILURES' default
        with pytest.raises(paramiko.AuthenticationException):
            live.paramiko(user, password="not-the-password")
    with pytest.raises(paramiko.AuthenticationException):
        live.paramiko(user, password=USER_PASSWORD)
    answer = httpx.post(
        f"{live.api_url}/session", json={"username": user, "password": USER_PASSWORD}
    )
    assert answer.status_code == 429
    assert answer.json()["detail"] == "Too many failed log-ins; try again in 15 minutes."


def test_a_read_only_api_key_opens_a_read_only_session(live: SftpServer, uid: str) -> None:
    user = f"r{uid}"
    key = live.user(user)
    with live.client(key) as api:
        made = api.post(
            f"/users/{live.user_ids[user]}/api-keys", json={"name": "sftp", "scope": "read"}
        )
        assert made.status_code == 201, made.text
        read_only = made.json()["key"]
    client = live.paramiko(user, password=read_only)
    try:
        assert sorted(client.listdir("/")) == ["home", "repository"]
        with pytest.raises(PermissionError):
            client.mkdir("/home/new")
        with pytest.raises(PermissionError), client.open(f"/repository/~{user}/x.txt", "wb") as fh:
            fh.write(b"nope")
    finally:
        client.close()
    with live.client(key) as api:
        gone = api.get("/resource/lookup", params={"path": f"/~{user}/x.txt"})
        assert gone.status_code == 404
