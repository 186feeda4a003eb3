"""Permissions, renames and moves, deletion to the recycle bin: the service layer's rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sftp.live import SftpServer, listed

pytestmark = pytest.mark.slow


def test_read_only_user_reads_but_cannot_write(
    live: SftpServer, uid: str, tmp_path: Path, make_folder: Callable[..., dict[str, Any]]
) -> None:
    writer, reader = f"w{uid}", f"r{uid}"
    folder = make_folder(f"shared-{uid}", **{writer: "write", reader: "read"})
    remote = f"/repository{folder['path']}"
    (tmp_path / "data.txt").write_text("shared data")
    live.sftp(writer, f"put {tmp_path}/data.txt {remote}/\nmkdir {remote}/sub\n")

    out = live.sftp(reader, f"get {remote}/data.txt {tmp_path}/copy.txt\nls {remote}\n")
    assert (tmp_path / "copy.txt").read_text() == "shared data"
    assert "data.txt" in out.stdout and "sub" in out.stdout
    for command in (
        f"put {tmp_path}/data.txt {remote}/mine.txt",
        f"mkdir {remote}/mine",
        f"rm {remote}/data.txt",
        f"rmdir {remote}/sub",
        f"rename {remote}/data.txt {remote}/renamed.txt",
    ):
        refused = live.sftp(reader, command + "\n", check=False)
        assert refused.returncode != 0, command
        assert "Permission denied" in refused.stderr, (command, refused.stderr)
    assert "data.txt" in live.sftp(writer, f"ls {remote}\n").stdout


def test_a_stranger_sees_nothing(
    live: SftpServer, uid: str, tmp_path: Path, make_folder: Callable[..., dict[str, Any]]
) -> None:
    owner, stranger = f"o{uid}", f"s{uid}"
    folder = make_folder(f"private-{uid}", **{owner: "write"})
    (tmp_path / "secret.txt").write_text("secret")
    live.sftp(owner, f"put {tmp_path}/secret.txt /repository{folder['path']}/\n")
    assert listed(live.sftp(stranger, "ls -1 /repository\n").stdout) == [f"~{stranger}"]
    assert "secret.txt" in listed(live.sftp(owner, f"ls -1 /repository{folder['path']}\n").stdout)
    for command in (
        f"get /repository{folder['path']}/secret.txt {tmp_path}/stolen.txt",
        f"ls /repository{folder['path']}",
        f"get /repository/~{owner}/anything {tmp_path}/x",
    ):
        refused = live.sftp(stranger, command + "\n", check=False)
        assert refused.returncode != 0
        assert "not found" in refused.stderr or "No such file" in refused.stderr, refused.stderr


def test_rename_and_move(
    live: SftpServer, uid: str, tmp_path: Path, make_folder: Callable[..., dict[str, Any]]
) -> None:
    user = f"m{uid}"
    folder = make_folder(f"moves-{uid}", **{user: "write"})
    base = f"/repository{folder['path']}"
    (tmp_path / "a.txt").write_text("a")
    live.sftp(
        user,
        f"mkdir {base}/one\nmkdir {base}/two\nput {tmp_path}/a.txt {base}/one/\n"
        f"rename {base}/one/a.txt {base}/one/b.txt\n"
        f"rename {base}/one/b.txt {base}/two/c.txt\n"
        f"rename {base}/two {base}/deux\n",
    )
    key = live.user(user)
    moved = live.node(key, f"{folder['path']}/deux/c.txt")
    assert moved["kind"] == "fileset"  # the fileset moved and was renamed with its file
    assert live.node(key, f"{folder['path']}/deux/c.txt/c.txt")["kind"] == "file"
    assert "Listing" not in live.sftp(user, f"ls {base}/one\n").stdout.replace(base, "")
    clash = live.sftp(
        user, f"mkdir {base}/deux/x\nrename {base}/deux/x {base}/deux/c.txt\n", check=False
    )
    assert clash.returncode != 0 and "Failure" in clash.stderr
    out = live.sftp(user, f"get {base}/deux/c.txt {tmp_path}/c.txt\n")
    assert (tmp_path / "c.txt").read_text() == "a", out.stdout


def test_rm_goes_to_the_recycle_bin_and_restores(
    live: SftpServer, uid: str, tmp_path: Path, make_folder: Callable[..., dict[str, Any]]
) -> None:
    user = f"t{uid}"
    folder = make_folder(f"bin-{uid}", **{user: "write"})
    base = f"/repository{folder['path']}"
    (tmp_path / "keep.txt").write_text("keep me")
    live.sftp(user, f"mkdir {base}/dir\nput {tmp_path}/keep.txt {base}/dir/\n")
    not_empty = live.sftp(user, f"rmdir {base}/dir\n", check=False)
    assert not_empty.returncode != 0 and "Failure" in not_empty.stderr
    live.sftp(user, f"rm {base}/dir/keep.txt\nrmdir {base}/dir\n")
    assert "dir" not in live.sftp(user, f"ls {base}\n").stdout.replace(base, "")
    with live.client(live.user(user)) as api:
        items = {i["original_path"]: i["id"] for i in api.get("/trash").json()}
        assert set(items) == {f"{folder['path']}/dir", f"{folder['path']}/dir/keep.txt"}
        for path in (f"{folder['path']}/dir", f"{folder['path']}/dir/keep.txt"):
            response = api.post(f"/trash/{items[path]}/restore")
            assert response.status_code == 200, response.text
    live.sftp(user, f"get {base}/dir/keep.txt {tmp_path}/restored.txt\n")
    assert (tmp_path / "restored.txt").read_text() == "keep me"
