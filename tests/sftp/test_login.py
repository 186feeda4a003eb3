"""Log-in with the portal's accounts (password, registered SSH keys); SFTP and nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from tests.sftp.live import CLIENT_OPTIONS, SftpServer
from tests.transfers.live import USER_PASSWORD

pytestmark = pytest.mark.slow


def test_key_registered_through_the_api_logs_in(live: SftpServer, uid: str) -> None:
    user = f"k{uid}"
    done = live.sftp(user, "pwd\nls /\n")
    assert "Remote working directory: /" in done.stdout
    assert "home" in done.stdout and "repository" in done.stdout


def test_password_logs_in_with_sftp_and_paramiko(live: SftpServer, uid: str) -> None:
    user = f"p{uid}"
    done = live.sftp(user, "ls /repository\n", password=USER_PASSWORD)
    assert f"~{user}" in done.stdout
    client = live.paramiko(user)
    try:
        assert sorted(client.listdir("/")) == ["home", "repository"]
    finally:
        client.close()


def test_wrong_password_and_unknown_key_are_refused(
    live: SftpServer, uid: str, tmp_path: Path
) -> None:
    user = f"w{uid}"
    live.user(user)
    with pytest.raises(paramiko.AuthenticationException):
        live.paramiko(user, password="not-the-password")
    stranger_key = tmp_path / "id_unknown"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger_key], check=True)
    done = subprocess.run(
        ["sftp", "-b", "-", "-P", str(live.sftp_port), *CLIENT_OPTIONS, "-i", str(stranger_key),
         "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no", f"{user}@127.0.0.1"],
        input="ls\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Permission denied" in done.stderr


def test_shell_exec_and_forwarding_are_refused(live: SftpServer, uid: str) -> None:
    user = f"s{uid}"
    key = live.ssh_key(user)
    done = subprocess.run(
        ["ssh", "-p", str(live.sftp_port), *CLIENT_OPTIONS, "-i", str(key), "-T",
         f"{user}@127.0.0.1", "id"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "uid=" not in done.stdout
    transport = paramiko.Transport(("127.0.0.1", live.sftp_port))
    try:
        transport.connect(username=user, password=USER_PASSWORD)
        channel = transport.open_session()
        with pytest.raises(paramiko.SSHException):
            channel.invoke_shell()
        with pytest.raises(paramiko.ChannelException):
            transport.open_channel("direct-tcpip", ("127.0.0.1", live.port), ("127.0.0.1", 1))
        with pytest.raises(paramiko.SSHException):
            transport.request_port_forward("127.0.0.1", 0)
    finally:
        transport.close()


def test_ssh_keys_api(live: SftpServer, uid: str, tmp_path: Path) -> None:
    owner, other = f"o{uid}", f"x{uid}"
    key = live.ssh_key(owner)
    public = key.with_suffix(".pub").read_text()
    with live.client(live.user(owner)) as api:
        me = live.user_ids[owner]
        listed = api.get(f"/users/{me}/ssh-keys").json()
        assert [k["fingerprint"].startswith("SHA256:") for k in listed] == [True]
        again = api.post(f"/users/{me}/ssh-keys", json={"public_key": public})
        assert again.status_code == 409, again.text
        bad = api.post(f"/users/{me}/ssh-keys", json={"public_key": "ssh-ed25519 AAAAnotakey"})
        assert bad.status_code == 400, bad.text
        private = api.post(f"/users/{me}/ssh-keys", json={"public_key": key.read_text()})
        assert private.status_code == 400 and "private" in private.json()["detail"]
    with live.client(live.user(other)) as api:
        assert api.get(f"/users/{live.user_ids[owner]}/ssh-keys").status_code == 403
        assert api.delete(f"/ssh-keys/{listed[0]['id']}").status_code == 404
    live.sftp(owner, "ls\n")
    with live.client(live.user(owner)) as api:
        assert api.delete(f"/ssh-keys/{listed[0]['id']}").status_code == 204
    refused = live.sftp(owner, "ls\n", check=False)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    with live.client() as admin:  # the site administrator manages anyone's keys
        added = admin.post(f"/users/{live.user_ids[owner]}/ssh-keys", json={"public_key": public})
        assert added.status_code == 201, added.text
    live.sftp(owner, "ls\n")
