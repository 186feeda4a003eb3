"""Nothing outside the virtual root can be reached, named or linked to."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import paramiko
import pytest

from tests.sftp.live import SftpServer

pytestmark = pytest.mark.slow


FAILURE = -1  # FX_FAILURE: paramiko raises OSError(message) with no errno


def _errno(client: paramiko.SFTPClient, call: str, *args: str) -> int | None:
    """The errno paramiko raised for the server's refusal, or None if it did not refuse."""
    try:
        getattr(client, call)(*args)
    except OSError as exc:
        return FAILURE if exc.errno is None else exc.errno
    return None


def test_escape_attempts_are_refused(live: SftpServer, uid: str) -> None:
    user = f"e{uid}"
    client = live.paramiko(user)
    try:
        assert client.normalize(".") == "/"
        assert client.normalize("/repository/../home/./x") == "/home/x"
        for path in ("/..", "/../etc/passwd", "/home/../../etc", "../../../etc/passwd"):
            assert _errno(client, "stat", path) == errno.EACCES, path
            assert _errno(client, "normalize", path) == errno.EACCES, path
        assert _errno(client, "open", "/home/../../root/.bashrc") == errno.EACCES
        for path in ("/etc/passwd", "/tmp", "/proc/self/environ", f"/home/{user}"):
            assert _errno(client, "stat", path) == errno.ENOENT, path
        assert _errno(client, "listdir", "/etc") == errno.ENOENT
        assert _errno(client, "symlink", "/etc/passwd", "/home/link") == errno.EACCES
        assert _errno(client, "symlink", "/etc/passwd", f"/repository/~{user}/ln") == errno.EACCES
        assert _errno(client, "readlink", "/home") == FAILURE
        assert _errno(client, "mkdir", "/etc") == errno.ENOENT
        assert _errno(client, "mkdir", "/newtop") == errno.ENOENT
        assert _errno(client, "remove", "/home") == FAILURE
        assert _errno(client, "rmdir", "/repository") == errno.EACCES
        assert _errno(client, "rename", "/home", "/repository/x") == errno.EACCES
        # NUL and over-long names: refused with a failure (not created, nothing crashes).
        assert _errno(client, "mkdir", "/home/a\x00b") == FAILURE
        assert _errno(client, "mkdir", "/home/" + "n" * 300) == FAILURE
        assert _errno(client, "mkdir", f"/repository/~{user}/" + "é" * 200) == FAILURE
        assert client.listdir("/home") == []
        # Between the staging area and the tree: not a rename.
        with client.open("/home/f.txt", "wb") as fh:
            fh.write(b"x")
        refused = _errno(client, "rename", "/home/f.txt", f"/repository/~{user}/f.txt")
        assert refused == FAILURE
    finally:
        client.close()


def test_links_planted_in_a_staging_area_are_not_followed(
    live: SftpServer, uid: str, tmp_path: Path
) -> None:
    user = f"l{uid}"
    live.sftp(user, "ls /home\n")  # creates the staging area
    home = live.data / "sftp" / "home" / user
    os.symlink("/etc", home / "etc")
    os.symlink("/etc/passwd", home / "passwd")
    client = live.paramiko(user)
    try:
        assert client.listdir("/home") == []
        assert _errno(client, "stat", "/home/passwd") == errno.ENOENT
        assert _errno(client, "open", "/home/passwd") == errno.ENOENT
        assert _errno(client, "listdir", "/home/etc") == errno.ENOENT
        assert _errno(client, "open", "/home/etc/passwd") == errno.ENOENT
    finally:
        client.close()
