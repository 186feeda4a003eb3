"""Uploads and downloads of trees, resumed transfers, audit of reads."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sftp.live import SftpServer, sha256_of, tree_of

pytestmark = pytest.mark.slow
MB = 1024 * 1024


def make_tree(root: Path) -> None:
    (root / "scans" / "día 1").mkdir(parents=True)
    (root / "scans" / "empty").mkdir()
    (root / "報告").mkdir()
    (root / "scans" / "día 1" / "ct-001.dcm").write_bytes(os.urandom(300_000))
    (root / "scans" / "día 1" / "ct-002.dcm").write_bytes(os.urandom(1000))
    (root / "報告" / "résumé Ωμέγα.pdf").write_bytes(b"%PDF-1.4 not really\n")
    (root / "notes.txt").write_bytes(b"")


def test_put_and_get_trees_in_the_repository(
    live: SftpServer, uid: str, tmp_path: Path, make_folder: Callable[..., dict[str, Any]]
) -> None:
    user = f"t{uid}"
    folder = make_folder(f"trees-{uid}", **{user: "write"})
    local = tmp_path / "upload"
    make_tree(local)
    remote = f"/repository{folder['path']}"
    live.sftp(user, f"put -r {local} {remote}/\n")
    back = tmp_path / "back"
    back.mkdir()
    live.sftp(user, f"get -r {remote}/upload {back}/\n")
    assert tree_of(back / "upload") == tree_of(local)

    # Each file is a File with its SHA-256, in a fileset of its own, as after a web upload.
    key = live.user(user)
    ct = live.node(key, f"{folder['path']}/upload/scans/día 1/ct-001.dcm")
    assert ct["kind"] == "fileset"
    with live.client(key) as api:
        files = api.get(f"/resources/{ct['id']}/children").json()["items"]
        assert [f["name"] for f in files] == ["ct-001.dcm"]
        detail = api.get(f"/resources/{files[0]['id']}").json()
    assert detail["sha256"] == sha256_of(local / "scans" / "día 1" / "ct-001.dcm")
    listing = live.sftp(user, f"ls -l {remote}/upload/報告\n").stdout
    assert "résumé Ωμέγα.pdf" in listing and "-rw-r--r--" in listing


def test_reads_are_audited_with_the_sftp_channel(
    live: SftpServer, uid: str, tmp_path: Path, admin_http: httpx.Client
) -> None:
    user = f"a{uid}"
    (tmp_path / "read-me.bin").write_bytes(b"audited bytes")
    live.sftp(user, f"put {tmp_path}/read-me.bin /repository/~{user}/\n")
    live.sftp(user, f"get /repository/~{user}/read-me.bin {tmp_path}/again.bin\n")
    assert (tmp_path / "again.bin").read_bytes() == b"audited bytes"
    events = admin_http.get("/audit", params={"username": user, "action": "file."}).json()["items"]
    seen = {(e["action"], e["channel"], e["path"]) for e in events}
    assert ("file.upload", "sftp", f"/~{user}/read-me.bin/read-me.bin") in seen
    assert ("file.download", "sftp", f"/~{user}/read-me.bin/read-me.bin") in seen
    assert all(e["client"] == "127.0.0.1" for e in events)


def _interrupted_upload(live: SftpServer, user: str, remote: str, data: bytes) -> None:
    """Write ``data`` then drop the connection without closing the file."""
    client = live.paramiko(user)
    handle = client.open(remote, "wb")
    handle.write(data)
    handle.flush()
    channel = client.get_channel()
    assert channel is not None
    transport = channel.get_transport()
    transport.sock.close()  # no CLOSE, no channel EOF: as when a network cable is pulled
    transport.close()


def test_interrupted_upload_resumes_with_reput(live: SftpServer, uid: str, tmp_path: Path) -> None:
    user = f"r{uid}"
    data = os.urandom(3 * MB + 123)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    remote = f"/repository/~{user}/big.bin"
    _interrupted_upload(live, user, remote, data[: MB + 7])

    client = live.paramiko(user)
    try:
        for _ in range(50):  # the server notices the dropped connection asynchronously
            try:
                if client.stat(remote).st_size == MB + 7:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        assert client.stat(remote).st_size == MB + 7  # a pending part: stat sees it...
        assert "big.bin" not in client.listdir(f"/repository/~{user}")  # ...listings do not
    finally:
        client.close()
    live.sftp(user, f"reput {local} {remote}\n")
    node = live.node(live.user(user), f"/~{user}/big.bin/big.bin")
    assert node["size"] == len(data)
    assert node["sha256"] == hashlib.sha256(data).hexdigest()
    assert not list((live.data / "tmp" / "parts").rglob("*.part"))


def test_reget_resumes_a_download(live: SftpServer, uid: str, tmp_path: Path) -> None:
    user = f"g{uid}"
    data = os.urandom(2 * MB)
    (tmp_path / "src.bin").write_bytes(data)
    live.sftp(user, f"put {tmp_path}/src.bin /repository/~{user}/src.bin\n")
    partial = tmp_path / "dst.bin"
    partial.write_bytes(data[:700_000])
    live.sftp(user, f"reget /repository/~{user}/src.bin {partial}\n")
    assert partial.read_bytes() == data


def test_writes_out_of_order_give_the_right_checksum(live: SftpServer, uid: str) -> None:
    user = f"o{uid}"
    blocks = [os.urandom(100_000) for _ in range(5)]
    client = live.paramiko(user)
    try:
        with client.open(f"/repository/~{user}/shuffled.bin", "wb") as fh:
            for i in (1, 0, 3, 4, 2, 2):  # block 2 written twice
                fh.seek(i * 100_000)
                fh.write(blocks[i])
    finally:
        client.close()
    node = live.node(live.user(user), f"/~{user}/shuffled.bin/shuffled.bin")
    assert node["sha256"] == hashlib.sha256(b"".join(blocks)).hexdigest()


def test_concurrent_sessions(live: SftpServer, uid: str, tmp_path: Path) -> None:
    import concurrent.futures

    users = [f"c{n}{uid}" for n in range(4)]
    for n, user in enumerate(users):
        live.ssh_key(user)
        (tmp_path / f"f{n}.bin").write_bytes(os.urandom(MB + n))

    def send(n: int) -> None:
        user = users[n]
        live.sftp(
            user,
            f"put {tmp_path}/f{n}.bin /repository/~{user}/\n"
            f"put {tmp_path}/f{n}.bin /home/\n"
            f"get /repository/~{user}/f{n}.bin {tmp_path}/f{n}.back\n",
        )

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(4)))
    for n in range(4):
        assert (tmp_path / f"f{n}.back").read_bytes() == (tmp_path / f"f{n}.bin").read_bytes()


def test_paramiko_round_trip(live: SftpServer, uid: str) -> None:
    user = f"m{uid}"
    client = live.paramiko(user)
    try:
        client.mkdir(f"/repository/~{user}/Ünïcode 文件夹")
        with client.open(f"/repository/~{user}/Ünïcode 文件夹/ψ.txt", "wb") as fh:
            fh.write(b"alpha")
        assert client.listdir(f"/repository/~{user}/Ünïcode 文件夹") == ["ψ.txt"]
        with client.open(f"/repository/~{user}/Ünïcode 文件夹/ψ.txt", "rb") as fh:
            assert fh.read() == b"alpha"
        with pytest.raises(OSError):
            client.open(f"/repository/~{user}/Ünïcode 文件夹/ψ.txt", "wb")  # no overwriting
    finally:
        client.close()
