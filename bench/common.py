"""Helpers the benchmarks share: loopback ports, a throwaway PostgreSQL, process memory.

Benchmarks run as scripts (``.venv/bin/python bench/NAME.py``), so this folder is on their
import path and they import it as ``common``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_SERVER = REPO / "scripts" / "pg-test-server"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_postgres(directory: str) -> str:
    """Start a throwaway PostgreSQL in ``directory`` (scripts/pg-test-server); its URL."""
    done = subprocess.run(
        [str(PG_SERVER), "start", directory, str(free_port())],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def stop_postgres(directory: str) -> None:
    subprocess.run([str(PG_SERVER), "stop", directory], check=False, capture_output=True)


def process_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes: resident now, and its peak."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def make_file(path: Path, size: int) -> str:
    """Write ``size`` random-looking bytes (an 8 MiB random block repeated) to ``path``;
    return their SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(8 * 1024 * 1024)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            chunk = block[: min(len(block), size - written)]
            fh.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return digest.hexdigest()
