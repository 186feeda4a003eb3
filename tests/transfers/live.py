"""A real ``sinfonia serve`` in a subprocess, and helpers for talking tus/HTTP to it."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse, urlunparse

import httpx

SINFONIA = Path(sys.executable).parent / "sinfonia"
ADMIN_PASSWORD = "Transfers-admin-Pass-1"
USER_PASSWORD = "Transfers-user-Pass-1"
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PgDatabase:
    """A throw-away database on the PostgreSQL server that ``base_url`` names."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.name = f"sinfonia_tus_{secrets.token_hex(6)}"

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.base_url, autocommit=True)

    def create(self) -> str:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return urlunparse(urlparse(self.base_url)._replace(path=f"/{self.name}"))

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


@dataclass
class LiveServer:
    """``sinfonia serve --data DATA --port PORT``; restartable on the same data and port."""

    data: Path
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    admin_key: str = ""
    collection_id: int = 0
    collection_path: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    _log: IO[bytes] | None = None
    dicom_port: int = 0  # DIMSE off unless a test asks for it

    # -- addresses ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def tus_url(self) -> str:
        return f"{self.api_url}/uploads"

    @property
    def address(self) -> list[str]:
        host = ["--host", "127.0.0.1", "--port", str(self.port)]
        return [*host, "--dicom-port", str(self.dicom_port)]

    @property
    def pid(self) -> int:
        assert self.proc is not None and self.proc.poll() is None, "the server is not running"
        return self.proc.pid

    # -- process control -----------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        assert self.proc is None
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed in _reap)
        self.proc = subprocess.Popen(
            [str(SINFONIA), "serve", "--data", str(self.data), *self.address],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reap()
                raise RuntimeError(f"sinfonia serve exited early ({code}):\n{self.log()}")
            try:
                response = httpx.get(f"{self.base_url}/healthz", timeout=2)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"sinfonia serve did not become healthy:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM and wait (graceful shutdown)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reap()

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as in a crash or ``kill -9``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _reap(self) -> None:
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM of the server process, in bytes."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
        return out

    def reset_peak_memory(self) -> bool:
        """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False where not allowed."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    # -- clients ---------------------------------------------------------------------------------
    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(SINFONIA), *args, "--data", str(self.data)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client for /api/v1 with ``Authorization: Bearer key`` (admin's by default;
        ``key=""`` for none)."""
        key = self.admin_key if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=60, **kwargs)

    def user_key(self, username: str) -> str:
        """An API key of ``username``, an ordinary account created on first use."""
        if username not in self.keys:
            with self.client() as api:
                user = api.post("/users", json={"username": username, "password": USER_PASSWORD})
                assert user.status_code == 201, user.text
                key = api.post(f"/users/{user.json()['id']}/api-keys", json={"name": "tests"})
                assert key.status_code == 201, key.text
            self.keys[username] = key.json()["key"]
        return self.keys[username]

    # -- storage, seen from outside -------------------------------------------------------------
    def blob_count(self) -> int:
        return sum(1 for p in (self.data / "blobs").rglob("*") if p.is_file())

    def part_files(self) -> set[str]:
        folder = self.data / "tmp" / "uploads"
        return {p.name for p in folder.iterdir()} if folder.exists() else set()


# -- tus helpers ----------------------------------------------------------------------------------
@contextmanager
def running(
    root: Path,
    factory: Callable[..., LiveServer] = LiveServer,
    *,
    collection: str | None = None,
    settings: dict[str, str] | None = None,
    **options: Any,
) -> Iterator[LiveServer]:
    """A started ``sinfonia serve`` on a data folder of its own under ``root`` (and, in the
    PostgreSQL run, a database of its own), with the administrator's API key ready and, when
    asked, a ``collection`` created; stopped, and its database dropped, on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
    env |= {
        "SINFONIA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SINFONIA_LOG_LEVEL": "warning",
        "DJANGO_SETTINGS_MODULE": "sinfonia.settings",
    } | (settings or {})
    url = os.environ.get("SINFONIA_DATABASE_URL")
    pg = PgDatabase(url) if url else None
    if pg is not None:
        env["SINFONIA_DATABASE_URL"] = pg.create()
    server = factory(
        data=root / "data", port=free_port(), env=env, log_path=root / "serve.log", **options
    )
    try:
        server.start()
        assert (server.data / "sinfonia.sqlite3").exists() == (pg is None)
        server.admin_key = server.cli("apikey", "create", "admin").strip()
        if collection is not None:
            with server.client() as api:
                response = api.post("/collections", json={"name": collection})
                assert response.status_code == 201, response.text
                server.collection_id = response.json()["id"]
                server.collection_path = response.json()["path"]
        yield server
    finally:
        server.stop()
        if pg is not None:
            pg.drop()


def metadata(**values: str | int) -> str:
    return ",".join(
        f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in values.items()
    )


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def create(api: httpx.Client, length: int, body: bytes | None = None, **meta: str | int) -> Any:
    headers = TUS | {"Upload-Length": str(length), "Upload-Metadata": metadata(**meta)}
    if body is not None:
        headers |= OCTETS
    return api.post("/uploads", headers=headers, content=body)


def created(api: httpx.Client, length: int, **meta: str | int) -> str:
    """Create an upload; return its path below /api/v1."""
    response = create(api, length, None, **meta)
    assert response.status_code == 201, response.text
    location: str = response.headers["Location"]
    assert location.startswith("/api/v1/uploads/")
    return location.removeprefix("/api/v1")


def patch(
    api: httpx.Client, url: str, offset: int, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return api.patch(
        url,
        headers=TUS | OCTETS | {"Upload-Offset": str(offset)} | (headers or {}),
        content=body,
    )


def offset_of(api: httpx.Client, url: str) -> int:
    response = api.head(url, headers=TUS)
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
