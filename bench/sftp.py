"""SFTP benchmark (issue 6), run by hand:

    .venv/bin/python bench/sftp.py [--size-gb 2] [--rounds 2]

Measured in one run, on the same disk, with the same OpenSSH ``sftp`` client (batch mode,
key log-in, default cipher and buffer settings):
- reference: OpenSSH's own SFTP server (``sshd -D -f <generated config>`` on a free loopback
  port with ``Subsystem sftp internal-sftp``, a generated host key and an authorized key made
  for the run; Debian's openssh-server, installed here when missing);
- Sinfonia: ``sinfonia serve --sftp-port`` (upload into the repository: SHA-256, blob store
  with fsync, File registered; download streamed from the blob store, audited).
Each round uploads then downloads a SIZE file through both; the best round counts. The client
keeps its default cipher choice: chacha20-poly1305 with OpenSSH's server, AES-GCM with Sinfonia's
(which offers AES-GCM only by default, see docs/admin.md); the reference is measured a second time
with AES-GCM forced, and that ratio is printed too, for a like-for-like cipher comparison. Prints
MB/s, the ratios Sinfonia / OpenSSH and the Sinfonia server's resident memory (VmRSS before,
VmHWM peak). Target: >= 0.7 x OpenSSH both ways, server memory flat (independent of SIZE).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port, make_file, process_memory

BIN = Path(sys.executable).parent
MB = 1024 * 1024
SSHD = Path("/usr/sbin/sshd")
GCM = "aes128-gcm@openssh.com"  # what Sinfonia's server negotiates by default
CLIENT = [
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
]  # fmt: skip


def reset_peak(pid: int) -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * MB):
            digest.update(chunk)
    return digest.hexdigest()


def settle(*paths: Path) -> None:
    """Flush and forget cached pages, so every transfer starts from the same state."""
    subprocess.run(["sync"], check=False)
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        except OSError:
            pass


def ensure_sshd() -> None:
    if SSHD.exists():
        return
    print("installing Debian's openssh-server (the reference SFTP server)...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # policy-rc.d forbids starting the system's own sshd while the package installs.
    policy = Path("/usr/sbin/policy-rc.d")
    made = False
    if not policy.exists() and os.geteuid() == 0:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        made = True
    try:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-q", "openssh-server"], env=env, check=True
        )
    finally:
        if made:
            policy.unlink()


def sftp(port: int, key: Path, user: str, command: str, cipher: str = "") -> float:
    start = time.perf_counter()
    chosen = ["-c", cipher] if cipher else []
    subprocess.run(
        [
            "sftp",
            "-q",
            "-b",
            "-",
            "-P",
            str(port),
            "-i",
            str(key),
            *chosen,
            *CLIENT,
            f"{user}@127.0.0.1",
        ],
        input=command,
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


class OpenSsh:
    def __init__(self, scratch: Path, key: Path) -> None:
        self.dir = scratch / "openssh"
        self.dir.mkdir()
        self.port = free_port()
        host_key = self.dir / "host_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True
        )
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {key}.pub\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"PidFile {self.dir}/sshd.pid\nSubsystem sftp internal-sftp\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
        self.proc = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(config), "-E", str(self.dir / "sshd.log")]
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError((self.dir / "sshd.log").read_text())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


class Sinfonia:
    def __init__(self, scratch: Path, key: Path) -> None:
        self.data = scratch / "data"
        self.port, self.sftp_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
        self.env.update(SINFONIA_ADMIN_PASSWORD="bench-admin-pass-1", SINFONIA_LOG_LEVEL="warning")
        self.proc = subprocess.Popen(
            [BIN / "sinfonia", "serve", "--data", str(self.data), "--port", str(self.port),
             "--sftp-port", str(self.sftp_port)],
            env=self.env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        api_key = subprocess.run(
            [BIN / "sinfonia", "apikey", "create", "admin", "--data", str(self.data)],
            env=self.env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        self.api = httpx.Client(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {api_key}"}, timeout=60
        )
        me = self.api.get("/users/me").json()["id"]
        public = key.with_suffix(".pub").read_text()
        added = self.api.post(f"/users/{me}/ssh-keys", json={"public_key": public})
        assert added.status_code == 201, added.text

    def sha256(self, name: str) -> str:
        node = self.api.get("/resource/lookup", params={"path": f"/~admin/{name}/{name}"}).json()
        return str(node["sha256"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-gb", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--dir", default=None, help="scratch folder (default: a temp dir in the cwd)")
    args = p.parse_args()
    ensure_sshd()
    scratch = Path(tempfile.mkdtemp(prefix="sinfonia-sftp-bench-", dir=args.dir or os.getcwd()))
    size = int(args.size_gb * 1024**3)
    key = scratch / "id_bench"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    source = scratch / "source.bin"
    expected = make_file(source, size)
    me = (
        os.environ.get("USER")
        or subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    )
    openssh = sinfonia = None
    try:
        openssh = OpenSsh(scratch, key)
        sinfonia = Sinfonia(scratch, key)
        rss_before, _ = process_memory(sinfonia.proc.pid)
        reset_peak(sinfonia.proc.pid)
        best: dict[str, float] = {}

        def keep(label: str, seconds: float) -> None:
            best[label] = min(best.get(label, seconds), seconds)
            print(f"  {label:<22} {size / MB / seconds:8.1f} MB/s  ({seconds:.2f} s)", flush=True)

        for n in range(1, args.rounds + 1):
            print(f"round {n}:", flush=True)
            settle(source)
            remote = openssh.dir / f"up{n}.bin"
            keep("upload / OpenSSH", sftp(openssh.port, key, me, f"put {source} {remote}\n"))
            remote.unlink()
            settle(source)
            keep("upload / OpenSSH+GCM", sftp(
                openssh.port, key, me, f"put {source} {remote}\n", cipher=GCM
            ))  # fmt: skip
            settle(source)
            keep("upload / Sinfonia", sftp(
                sinfonia.sftp_port, key, "admin", f"put {source} /repository/~admin/up{n}.bin\n"
            ))  # fmt: skip
            assert sinfonia.sha256(f"up{n}.bin") == expected, "Sinfonia stored other bytes"
            settle(remote, sinfonia.data / "blobs" / expected[:2] / expected[2:4] / expected)
            back = scratch / f"back-openssh-{n}.bin"
            keep("download / OpenSSH", sftp(openssh.port, key, me, f"get {remote} {back}\n"))
            back.unlink()
            settle(remote)
            keep("download / OpenSSH+GCM", sftp(
                openssh.port, key, me, f"get {remote} {back}\n", cipher=GCM
            ))  # fmt: skip
            back.unlink()
            remote.unlink()
            settle(sinfonia.data / "blobs" / expected[:2] / expected[2:4] / expected)
            back = scratch / f"back-sinfonia-{n}.bin"
            keep("download / Sinfonia", sftp(
                sinfonia.sftp_port, key, "admin", f"get /repository/~admin/up{n}.bin {back}\n"
            ))  # fmt: skip
            assert sha256_of(back) == expected, "Sinfonia sent other bytes"
            back.unlink()
        rss_after, peak = process_memory(sinfonia.proc.pid)
        print(f"\nfile: {size / 1024**3:.2f} GiB, best of {args.rounds} round(s)")
        for way in ("upload", "download"):
            ref, ours = best[f"{way} / OpenSSH"], best[f"{way} / Sinfonia"]
            gcm = best[f"{way} / OpenSSH+GCM"]
            print(
                f"{way:<9} OpenSSH {size / MB / ref:7.1f} MB/s   Sinfonia {size / MB / ours:7.1f} "
                f"MB/s   ratio {ref / ours:.2f} (target >= 0.70)   [OpenSSH forced to AES-GCM "
                f"{size / MB / gcm:7.1f} MB/s, ratio {gcm / ours:.2f}]"
            )
        print(
            f"Sinfonia server memory: RSS {rss_before / MB:.0f} MB before, peak "
            f"{peak / MB:.0f} MB during, {rss_after / MB:.0f} MB after"
        )
    finally:
        for server in (sinfonia, openssh):
            if server is not None:
                server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
