"""`sinfonia serve` and its SFTP server: host key, ports, restarts."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.sftp.live import SftpServer
from tests.transfers.live import SINFONIA, free_port

pytestmark = pytest.mark.slow


def test_host_key_is_printed_and_kept_across_restarts(live: SftpServer, uid: str) -> None:
    live.restart()
    pub = (live.data / "sftp" / "ssh_host_ed25519_key.pub").read_text()
    printed = re.findall(
        r"SFTP on sftp://127\.0\.0\.1:(\d+)/ \(host key (SHA256:\S+)\)", live.log()
    )
    assert len(printed) >= 2 and len(set(printed)) == 1, printed
    assert printed[0][0] == str(live.sftp_port)
    keygen = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"], input=pub, capture_output=True, text=True, check=True
    )
    assert printed[0][1] in keygen.stdout
    assert oct((live.data / "sftp" / "ssh_host_ed25519_key").stat().st_mode & 0o777) == "0o600"
    live.sftp(f"h{uid}", "ls /\n")  # still serving after the restart


def test_a_port_asked_for_must_open(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
    env["SINFONIA_ADMIN_PASSWORD"] = "Serve-sftp-pass-1"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [SINFONIA, "serve", "--data", str(tmp_path / "data"), "--port", str(free_port()),
             "--sftp-port", str(port)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot listen for SFTP" in done.stdout
