"""A live ``sinfonia serve`` with SFTP, and the clients the tests drive it with: OpenSSH's
``sftp`` in batch mode (key or password log-in) and paramiko."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paramiko

from tests.transfers.live import USER_PASSWORD, LiveServer

SSHPASS = shutil.which("sshpass")
CLIENT_OPTIONS = [
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=20",
]  # fmt: skip


@dataclass
class SftpServer(LiveServer):
    """`LiveServer` listening for SFTP too (``--sftp-port``)."""

    sftp_port: int = 0
    keys_dir: Path = Path()
    user_ids: dict[str, int] = field(default_factory=dict)
    key_files: dict[str, Path] = field(default_factory=dict)

    @property
    def address(self) -> list[str]:
        return [*super().address, "--sftp-port", str(self.sftp_port)]

    def user(self, name: str) -> str:
        """Create ``name`` (password USER_PASSWORD) on first use; return its API key."""
        key = self.user_key(name)
        if name not in self.user_ids:
            with self.client(key) as api:
                self.user_ids[name] = api.get("/users/me").json()["id"]
        return key

    def ssh_key(self, name: str) -> Path:
        """A key pair made with ssh-keygen for ``name``, its public half registered through
        the REST API by the user; returns the private key's path."""
        if name not in self.key_files:
            key = self.user(name)
            path = self.keys_dir / f"id_{name}"
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                check=True,
            )
            with self.client(key) as api:
                response = api.post(
                    f"/users/{self.user_ids[name]}/ssh-keys",
                    json={"public_key": path.with_suffix(".pub").read_text(), "name": "tests"},
                )
                assert response.status_code == 201, response.text
            self.key_files[name] = path
        return self.key_files[name]

    def sftp(
        self,
        user: str,
        commands: str,
        *,
        password: str | None = None,
        cwd: Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``commands`` with OpenSSH's ``sftp -b`` (key log-in unless a password is
        given). A command prefixed with ``-`` may fail without ending the batch."""
        args = ["sftp", "-b", "-", "-P", str(self.sftp_port), *CLIENT_OPTIONS]
        if password is None:
            args += ["-i", str(self.ssh_key(user)), "-o", "IdentitiesOnly=yes"]
            args += ["-o", "PasswordAuthentication=no"]
        else:
            assert SSHPASS, "sshpass is needed for password log-in with sftp"
            self.user(user)
            # -b implies BatchMode, which forbids password prompts (sshpass answers them);
            # ssh keeps the first value given, so BatchMode=no goes before -b.
            args = [SSHPASS, "-p", password, "sftp", "-o", "BatchMode=no", *args[1:]]
            args += ["-o", "PubkeyAuthentication=no"]
        done = subprocess.run(
            [*args, f"{user}@127.0.0.1"],
            input=commands,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            check=False,
        )
        if check:
            assert done.returncode == 0, (commands, done.stdout, done.stderr)
        return done

    def paramiko(self, user: str, password: str = USER_PASSWORD) -> paramiko.SFTPClient:
        """An SFTP client logged in with the user's password (paramiko)."""
        self.user(user)
        transport = paramiko.Transport(("127.0.0.1", self.sftp_port))
        transport.connect(username=user, password=password)
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        return client

    def node(self, key: str, path: str) -> dict[str, Any]:
        with self.client(key) as api:
            response = api.get("/resource/lookup", params={"path": path})
            assert response.status_code == 200, (path, response.text)
            body: dict[str, Any] = response.json()
            return body


def listed(stdout: str) -> list[str]:
    """The names ``ls -1`` printed in a batch's output (the echoed commands left out)."""
    lines = [line for line in stdout.splitlines() if line and not line.startswith("sftp>")]
    return [line.rstrip("/").rsplit("/", 1)[-1] for line in lines]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_of(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``root`` ("/" suffix: empty folder)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file():
            out[rel] = sha256_of(path)
        elif not any(path.iterdir()):
            out[rel + "/"] = ""
    return out


def wait_operation(api: httpx.Client, op_id: str, timeout: float = 60) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.get(f"/operations/{op_id}").json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)
