"""Content-addressed blob files under the data folder.

Layout: ``blobs/ab/cd/abcdef...`` (first two byte pairs of the SHA-256 as directories). Bytes are
written to ``tmp/`` first, flushed to disk, then renamed into place, so a reader never sees a
partial blob and a crash leaves at most a stray file in ``tmp/``. See
docs/decisions/0002-storage-layout.md.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredBytes:
    sha256: str
    size: int


def blob_dir() -> Path:
    return Path(settings.SINFONIA_BLOB_DIR)


def tmp_dir() -> Path:
    path = Path(settings.SINFONIA_TMP_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_path(sha256: str) -> Path:
    return blob_dir() / sha256[:2] / sha256[2:4] / sha256


def write_chunks(chunks: Iterable[bytes]) -> StoredBytes:
    """Stream ``chunks`` into the store, hashing as they pass; return the content's address."""
    return _settle(*_write_unsynced(chunks))


def _write_unsynced(chunks: Iterable[bytes]) -> tuple[Path, StoredBytes]:
    """Write ``chunks`` to a new temporary file, hashing them: not yet durable, not in place."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir(), prefix="blob-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Path(tmp_name), StoredBytes(sha256=digest.hexdigest(), size=size)


def _settle(tmp: Path, stored: StoredBytes) -> StoredBytes:
    """Make a written temporary file durable (fsync), then move it to its address."""
    try:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _place(tmp, stored.sha256)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return stored


_SYNC_POOL: ThreadPoolExecutor | None = None
_SYNC_LOCK = threading.Lock()


def _sync_pool() -> ThreadPoolExecutor:
    global _SYNC_POOL
    with _SYNC_LOCK:
        if _SYNC_POOL is None:
            _SYNC_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="blob-sync")
        return _SYNC_POOL


def write_chunks_soon(chunks: Iterable[bytes]) -> Future[StoredBytes]:
    """`write_chunks` for many blobs in a row (the instances of a STOW-RS request): the bytes
    are written and hashed now; their fsync and move into place run in a thread pool, and the
    future holds the address once both are done. Concurrent fsyncs share the file system's
    journal commits, so a batch of small blobs becomes durable many times faster than with one
    fsync after another, and the caller reads the next blob meanwhile."""
    tmp, stored = _write_unsynced(chunks)
    try:
        return _sync_pool().submit(_settle, tmp, stored)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_stream(stream: BinaryIO) -> StoredBytes:
    return write_chunks(iter(lambda: stream.read(CHUNK), b""))


def adopt(path: Path, sha256: str, size: int) -> StoredBytes:
    """Move a fully written and hashed file (a finished resumable upload) into the store."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    _place(path, sha256)
    return StoredBytes(sha256=sha256, size=size)


def _place(tmp: Path, sha256: str) -> None:
    final = blob_path(sha256)
    if final.exists():
        tmp.unlink()  # identical content is stored once
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)


def read_chunks(
    sha256: str, start: int = 0, length: int | None = None, chunk_size: int = CHUNK
) -> Iterator[bytes]:
    """The blob's bytes from ``start``, ``length`` of them (all by default), in chunks."""
    with open(blob_path(sha256), "rb", buffering=0) as fh:
        if hasattr(os, "posix_fadvise"):
            # read ahead twice as far: a download streams the file from start to end
            os.posix_fadvise(fh.fileno(), start, length or 0, os.POSIX_FADV_SEQUENTIAL)
        if start:
            fh.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = fh.read(chunk_size if remaining is None else min(chunk_size, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def exists(sha256: str) -> bool:
    return blob_path(sha256).exists()


def delete(sha256: str) -> None:
    blob_path(sha256).unlink(missing_ok=True)
