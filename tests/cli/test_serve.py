"""`sinfonia serve` end to end: a real process, a real port, signals, restarts.

On the PostgreSQL run (SINFONIA_DATABASE_URL set) each test gets a database of its own, made
here and dropped afterwards, so the server never touches the test database; otherwise the
server keeps SQLite in its fresh data folder.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse, urlunparse

import httpx
import pytest

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "Serve-test-pass-1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def _sinfonia() -> str:
    beside = Path(sys.executable).parent / "sinfonia"  # the console script of this venv
    if beside.exists():
        return str(beside)
    found = shutil.which("sinfonia")
    assert found, "the sinfonia console script is not installed"
    return found


SINFONIA = _sinfonia()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def database_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database on the PostgreSQL run; None (SQLite) otherwise."""
    url = os.environ.get("SINFONIA_DATABASE_URL")
    if not url:
        yield None
        return
    import psycopg
    from psycopg import sql

    name = f"sinfonia_serve_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunparse(urlparse(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def env(database_url: str | None) -> dict[str, str]:
    """The server's environment: ours, less anything that would point it elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
    if database_url:
        env["SINFONIA_DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Server:
    """One `sinfonia serve` process; its output goes to a file (a pipe could fill up)."""

    def __init__(self, data: Path, env: dict[str, str], log: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log: IO[bytes] | None = open(log, "wb")  # noqa: SIM115 (closed in stop/kill)
        try:
            self.proc = subprocess.Popen(
                [
                    SINFONIA,
                    "serve",
                    "--data",
                    str(data),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            self._close()
            raise

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last: Any = None
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"serve exited with {self.proc.returncode}:\n{self.output}")
                try:
                    response = client.get("/healthz")
                except httpx.TransportError as exc:
                    last = exc
                else:
                    last = (response.status_code, response.text)
                    if response.status_code == 200:
                        assert response.json() == {"status": "ok"}
                        return
                time.sleep(0.1)
        pytest.fail(f"not healthy within {START_TIMEOUT} s (last: {last!r}):\n{self.output}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"serve did not stop within {STOP_TIMEOUT} s of {sig.name}:\n{self.output}")
        self._close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture
def servers(tmp_path: Path, env: dict[str, str]) -> Iterator[Any]:
    """Start servers with ``servers(data_dir)``; any left running are killed at the end."""
    started: list[Server] = []

    def start(data: Path, **extra: str) -> Server:
        server = Server(data, {**env, **extra}, tmp_path / f"serve-{len(started)}.log")
        started.append(server)
        server.wait_healthy()
        return server

    yield start
    for server in started:
        server.kill()


def cli(data: Path, env: dict[str, str], *argv: str) -> str:
    """Run ``sinfonia ARGV... --data DATA`` as its own process; return its standard output."""
    done = subprocess.run(
        [SINFONIA, *argv, "--data", str(data)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def sign_in(server: Server, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        return client.post("/api/v1/session", json={"username": username, "password": password})


def check_database(data: Path, database_url: str | None) -> None:
    sqlite = data / "sinfonia.sqlite3"
    if database_url:
        assert not sqlite.exists(), "the server ignored SINFONIA_DATABASE_URL"
    else:
        assert sqlite.exists()


def test_serve_end_to_end(servers, env, database_url, tmp_path):
    data = tmp_path / "data"
    server = servers(data, SINFONIA_ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert f"Sinfonia: data folder {data}" in server.output
    assert "password from SINFONIA_ADMIN_PASSWORD" in server.output
    assert ADMIN_PASSWORD not in server.output
    assert f"listening on http://127.0.0.1:{server.port}/" in server.output
    check_database(data, database_url)

    with httpx.Client(base_url=server.url, timeout=10) as client:
        bad = client.post("/api/v1/session", json={"username": "admin", "password": "wrong"})
        assert bad.status_code == 401
        assert client.get("/api/v1/users/me").status_code == 401

        signed_in = client.post(
            "/api/v1/session", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["user"]["site_admin"] is True
        me = client.get("/api/v1/users/me")  # the session cookie
        assert me.status_code == 200
        assert me.json()["username"] == "admin"

    # a key made by the CLI beside the running server, on the same database
    key = cli(data, env, "apikey", "create", "admin", "--name", "e2e").strip()
    assert key.startswith("sfk_")
    payload = bytes(range(256)) * 6000  # 1.5 MB: more than one chunk each way
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        created = client.post("/api/v1/collections", json={"name": "Ελληνικά 患者"})
        assert created.status_code == 201, created.text
        collection = created.json()
        assert collection["path"] == "/Ελληνικά 患者"
        found = client.get("/api/v1/resource/lookup", params={"path": "/Ελληνικά 患者"})
        assert found.status_code == 200
        assert found.json()["id"] == collection["id"]

        uploaded = client.post(
            "/api/v1/files",
            data={"parent_id": str(collection["id"])},
            files={"file": ("niño_año.bin", payload, "application/octet-stream")},
        )
        assert uploaded.status_code == 201, uploaded.text
        downloaded = client.get(f"/api/v1/files/{uploaded.json()['id']}/download")
        assert downloaded.status_code == 200
        assert downloaded.content == payload
        assert downloaded.headers["content-length"] == str(len(payload))

    listed = cli(data, env, "collection", "list")
    assert f"/Ελληνικά 患者\t{collection['id']}\n" in listed

    assert server.stop(signal.SIGTERM) == 0
    assert server.output.rstrip().endswith("Sinfonia: stopped"), server.output


def test_generated_admin_password_is_shown_on_first_start_only(servers, database_url, tmp_path):
    data = tmp_path / "data"
    first = servers(data)
    match = re.search(
        r"Created the administrator account 'admin' with password:\s+(\S+)\s", first.output
    )
    assert match, first.output
    password = match.group(1)
    assert sign_in(first, "admin", password).status_code == 200
    assert first.stop(signal.SIGTERM) == 0
    assert "Sinfonia: stopped" in first.output
    check_database(data, database_url)

    second = servers(data)
    assert "administrator account" not in second.output
    assert password not in second.output
    assert sign_in(second, "admin", password).status_code == 200  # the same account
    assert second.stop(signal.SIGINT) == 0  # Ctrl-C stops it as cleanly as SIGTERM
    assert "Sinfonia: stopped" in second.output
    assert "Traceback" not in second.output
