"""The SFTP server: its own thread and asyncio loop inside ``sinfonia serve``.

Log-in uses the portal's accounts: a password (throttled, `accounts.services.login`; accounts
with two-factor log-in give an API key instead) or an SSH key the user registered
(`accounts.services.sshkeys`). Only the ``sftp`` subsystem is served: shells,
commands, SCP, port, agent and X11 forwarding are all refused. The host key is generated on
first start into ``SINFONIA_SFTP_DIR/ssh_host_ed25519_key`` and kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
from django.conf import settings
from django.db import close_old_connections

from sinfonia.accounts.models import User
from sinfonia.accounts.services import login, sshkeys
from sinfonia.core.context import Actor
from sinfonia.sftp.handler import Session
from sinfonia.transfers.services import parts

log = logging.getLogger("sinfonia.sftp")
T = TypeVar("T")
FAILED_LOGIN_DELAY = 1.0
EXPIRY_SECONDS = 3600.0
WORKERS = 8
_running: SftpServer | None = None


def running() -> SftpServer | None:
    """The server started by this process, if any (the connection page reports its port)."""
    return _running


def host_key_path() -> Path:
    return Path(settings.SINFONIA_SFTP_DIR) / "ssh_host_ed25519_key"


def load_host_key() -> asyncssh.SSHKey:
    """The server's host key, generated (ssh-ed25519) and saved on first use."""
    path = host_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="sinfonia sftp")
        fd = os.open(f"{path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.export_private_key())
        os.replace(f"{path}.tmp", path)
        path.with_suffix(".pub").write_bytes(key.export_public_key())
    return asyncssh.read_private_key(str(path))


def fingerprint() -> str:
    """``SHA256:...`` of the host key (what clients show on first connection)."""
    return str(load_host_key().get_fingerprint("sha256"))


def _job(fn: Any, args: tuple[Any, ...]) -> Any:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("SFTP housekeeping failed: %s", future.exception())


def _password_user(username: str, password: str, client: str) -> tuple[User, bool] | None:
    # Throttled and counted like every log-in; accounts with two-factor log-in take an API key
    # ("app password") here, not their password.
    return login.check_app_password(username, password, channel="sftp", client=client)


class SftpServer:
    """Start with `start` (returns once listening, or raises), stop with `stop`."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="sftp-db")
        self.thread: threading.Thread | None = None
        self.acceptor: asyncssh.SSHAcceptor | None = None
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.key = load_host_key()
        if not log.isEnabledFor(logging.DEBUG):
            # asyncssh reports every connection, channel and request at INFO; the audit trail
            # records what users did, so only its warnings reach the server's log.
            logging.getLogger("asyncssh").setLevel(logging.WARNING)

    @property
    def fingerprint(self) -> str:
        return str(self.key.get_fingerprint("sha256"))

    async def run(self, fn: Any, *args: Any) -> Any:
        return await self.loop.run_in_executor(self.pool, _job, fn, args)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._listen())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.loop.call_later(1.0, self._expire_parts)
            self.loop.run_forever()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

        self.thread = threading.Thread(target=main, name="sftp", daemon=True)
        self.thread.start()
        ready.wait()
        if failure:
            self.thread.join()
            self.pool.shutdown(wait=False)
            raise failure[0]
        global _running
        _running = self

    async def _listen(self) -> None:
        self.acceptor = await asyncssh.create_server(
            lambda: Gate(self),
            self.host,
            self.port,
            server_host_keys=[self.key],
            encryption_algs=list(settings.SINFONIA_SFTP_CIPHERS),
            sftp_factory=self._session,
            sftp_version=3,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=False,
            reuse_address=True,
        )
        self.port = self.acceptor.sockets[0].getsockname()[1]

    def _session(self, chan: asyncssh.SSHServerChannel[bytes]) -> Session:
        gate = chan.get_connection().get_owner()
        assert isinstance(gate, Gate)
        username = chan.get_extra_info("username")
        user = gate.users[username]
        peer = chan.get_extra_info("peername") or ("", 0)
        actor = Actor(
            user=user,
            channel="sftp",
            client=str(peer[0]),
            read_only=username in gate.read_only,  # signed in with a read-only API key
        )
        return Session(chan, actor, self.run)

    def _expire_parts(self) -> None:
        future = self.loop.run_in_executor(self.pool, _job, parts.expire_parts, ())
        future.add_done_callback(_log_failure)
        self.loop.call_later(EXPIRY_SECONDS, self._expire_parts)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, close every connection (uploads in progress stay resumable)."""
        global _running
        if _running is self:
            _running = None
        if self.thread is None or not self.thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        try:
            future.result(timeout)
        except Exception:  # a stuck connection must not hold the whole server up
            log.exception("SFTP shutdown")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def _shutdown(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
        for conn in list(self.connections):
            conn.close()
        for conn in list(self.connections):
            await conn.wait_closed()
        if self.acceptor is not None:
            await self.acceptor.wait_closed()


class Gate(asyncssh.SSHServer):
    """Authentication of one connection; ``users`` holds who proved to be whom."""

    def __init__(self, server: SftpServer) -> None:
        self.server = server
        self.conn: asyncssh.SSHServerConnection | None = None
        self.users: dict[str, User] = {}
        self.read_only: set[str] = set()

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.server.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.server.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        peer = self.conn.get_extra_info("peername") if self.conn is not None else None
        client = str(peer[0]) if peer else ""
        found = await self.server.run(_password_user, username, password, client)
        if found is None:
            await asyncio.sleep(FAILED_LOGIN_DELAY)
            return False
        self.users[username], read_only = found
        if read_only:
            self.read_only.add(username)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = await self.server.run(sshkeys.user_for_key, username, key)
        if user is None:
            return False
        self.users[username] = user
        return True
