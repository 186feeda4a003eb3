"""The staging area (/home): quota, and import/export between it and the repository."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sftp.conftest import QUOTA
from tests.sftp.live import SftpServer, listed, tree_of, wait_operation

pytestmark = pytest.mark.slow


def test_quota(live: SftpServer, uid: str, tmp_path: Path) -> None:
    user = f"q{uid}"
    (tmp_path / "half.bin").write_bytes(os.urandom(QUOTA // 2 + 1000))
    live.sftp(user, f"put {tmp_path}/half.bin /home/one.bin\n")
    over = live.sftp(user, f"put {tmp_path}/half.bin /home/two.bin\n", check=False)
    assert over.returncode != 0
    assert 'write remote "/home/two.bin": Failure' in over.stderr, over.stderr
    client = live.paramiko(user)  # OpenSSH's client shows the code; paramiko the message
    try:
        with pytest.raises(OSError, match="quota exceeded"), client.open("/home/3", "wb") as fh:
            fh.write(os.urandom(QUOTA // 2))
    finally:
        client.close()
    df = live.sftp(user, "df /home\n").stdout
    assert str(QUOTA // 1024) in df  # size in 1K blocks
    # Space comes back when files go; the repository has no such quota.
    live.sftp(user, f"rm /home/two.bin\nrm /home/one.bin\nput {tmp_path}/half.bin /home/two.bin\n")
    live.sftp(user, f"put {tmp_path}/half.bin /repository/~{user}/\n")
    live.sftp(user, f"put {tmp_path}/half.bin /repository/~{user}/again.bin\n")


def test_import_and_export_through_the_api(
    live: SftpServer, uid: str, tmp_path: Path, make_folder: Callable[..., dict[str, Any]]
) -> None:
    user = f"i{uid}"
    folder = make_folder(f"imports-{uid}", **{user: "write"})
    local = tmp_path / "batch"
    (local / "séries" / "a").mkdir(parents=True)
    (local / "séries" / "a" / "img1.dcm").write_bytes(os.urandom(5000))
    (local / "séries" / "img2.dcm").write_bytes(os.urandom(7000))
    (local / "report.pdf").write_bytes(b"%PDF")
    live.sftp(user, f"put -r {local} /home/\n")

    with live.client(live.user(user)) as api:
        page = api.get("/sftp/staging", params={"path": "batch"}).json()
        assert [(e["name"], e["is_dir"]) for e in page["items"]] == [
            ("séries", True),
            ("report.pdf", False),
        ]
        assert page["usage"] == 12004 and page["quota"] == 4 * 1024 * 1024
        response = api.post(
            "/sftp/import",
            json={
                "paths": ["batch/séries", "batch/report.pdf"],
                "destination_id": folder["id"],
                "sinfonia_id": "SINFONIA-T2.1",
                "remove_after": True,
            },
        )
        assert response.status_code == 202, response.text
        op = wait_operation(api, response.json()["id"])
        assert op["status"] == "done", op
        assert op["done"] == op["total"] == 12004
        imported = op["result"]["path"]
        assert re.fullmatch(
            rf"{folder['path']}/upload_{user}_\d{{8}}_\d{{6}}[+-]\d{{4}}", imported
        ), imported
        img = api.get("/resource/lookup", params={"path": f"{imported}/séries/a/img1.dcm"})
        assert img.status_code == 200 and img.json()["sinfonia_id"] == "SINFONIA-T2.1"
        assert listed(live.sftp(user, "ls -1 /home/batch\n").stdout) == []

        response = api.post(
            "/sftp/export", json={"sources": [live.node(live.user(user), imported)["id"]]}
        )
        assert response.status_code == 202, response.text
        op = wait_operation(api, response.json()["id"])
        assert op["status"] == "done", op
        out = op["result"]["folder"]
        assert re.fullmatch(rf"download_{user}_\d{{8}}_\d{{6}}[+-]\d{{4}}", out), out
    back = tmp_path / "back"
    back.mkdir()
    live.sftp(user, f"get -r /home/{out} {back}/\n")
    name = imported.rsplit("/", 1)[-1]
    assert tree_of(back / out / name) == tree_of(local)


def test_export_beyond_the_quota_is_refused(live: SftpServer, uid: str, tmp_path: Path) -> None:
    user = f"x{uid}"
    (tmp_path / "big.bin").write_bytes(os.urandom(QUOTA + 1))
    live.sftp(user, f"put {tmp_path}/big.bin /repository/~{user}/\n")
    with live.client(live.user(user)) as api:
        node = live.node(live.user(user), f"/~{user}/big.bin")
        response = api.post("/sftp/export", json={"sources": [node["id"]]})
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "quota_exceeded"
