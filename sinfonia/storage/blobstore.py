"""Content-addressed blob files under the data folder.

Layout: ``blobs/ab/cd/abcdef...`` (first two byte pairs of the SHA-256 as directories). Bytes are
written to ``tmp/`` first, flushed to disk, then renamed into place, so a reader never sees a
partial blob and a crash leaves at most a stray file in ``tmp/``. See
docs/decisions/0002-storage-layout.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from django.conf import settings

from sinfonia.storage import reserve

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredBytes:
    sha256: str
    size: int


def blob_dir() -> Path:
    return Path(settings.SINFONIA_BLOB_DIR)


def tmp_dir() -> Path:
    path = Path(settings.SINFONIA_TMP_DIR)
    if not path.is_dir():  # a look is cheaper than mkdir's exception, on every blob written
        path.mkdir(parents=True, exist_ok=True)
    return path


def blob_path(sha256: str) -> Path:
    return blob_dir() / sha256[:2] / sha256[2:4] / sha256


def write_chunks(chunks: Iterable[bytes]) -> StoredBytes:
    """Stream ``chunks`` into the store, hashing as they pass; return the content's address."""
    written = write_unsynced(chunks)
    return _settle(written.path, written.stored)


@dataclass(frozen=True, slots=True)
class Unsynced:
    """Bytes written to a temporary file and hashed, not yet durable nor in place
    (`settle_all`)."""

    path: Path
    stored: StoredBytes


def write_unsynced(chunks: Iterable[bytes]) -> Unsynced:
    """Write ``chunks`` to a new temporary file, hashing them: not yet durable, not in place."""
    digest = hashlib.sha256()
    size = 0
    tmp, fd = _new_temporary()
    try:
        try:
            for chunk in chunks:
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                size += len(chunk)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Unsynced(tmp, StoredBytes(sha256=digest.hexdigest(), size=size))


def _new_temporary() -> tuple[Path, int]:
    """A new temporary file, open for writing: an empty one from the reserve where this
    process keeps one (`storage.reserve`), else made now."""
    folder = tmp_dir()
    ahead = reserve.current(folder)
    path = ahead.take_file() if ahead is not None else None
    if path is not None:
        try:
            return path, os.open(path, os.O_WRONLY)
        except FileNotFoundError:  # removed under us (a hand-made cleanup): make one
            pass
    path = folder / f"blob-{secrets.token_hex(8)}"
    return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


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


def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        return cast(Callable[[int], int], ctypes.CDLL(None, use_errno=True).syncfs)
    except (AttributeError, OSError):  # not Linux
        return None


_SYNCFS = _libc_syncfs()


def _sync_file_system(folder: Path) -> bool:
    """syncfs(2) on the file system holding ``folder``: everything written to it is on disk
    when this returns (write-back errors raise OSError). False where there is no syncfs."""
    if _SYNCFS is None:
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs: {os.strerror(err)}")
    finally:
        os.close(fd)
    return True


def settle_all(files: Sequence[Unsynced]) -> list[StoredBytes]:
    """Make many written files durable together (many small instances of one STOW-RS request),
    then move each to its address: one file-system sync for the lot, as a database's group
    commit, instead of one fsync each (each a journal commit: 0.3-1 ms apiece on a VM's disk,
    more than the rest of storing a small instance), and one more after the moves so that
    they are durable too before the caller registers the files. Where there is no syncfs, each
    file is fsynced. On failure nothing is placed that was not durable, and the temporary
    files are gone."""
    if not files:
        return []
    try:
        if not _sync_file_system(tmp_dir()):
            for written in files:
                with open(written.path, "rb+") as fh:
                    os.fsync(fh.fileno())
        for written in files:
            _place(written.path, written.stored.sha256)
        _sync_file_system(blob_dir())
    except BaseException:
        for written in files:
            written.path.unlink(missing_ok=True)
        raise
    return [written.stored for written in files]


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
    try:
        os.replace(tmp, final)
    except FileNotFoundError:  # its folder is not there yet
        if not tmp.exists():
            raise
        _make_folder(final.parent)
        os.replace(tmp, final)


def _make_folder(folder: Path) -> None:
    """Make a blob folder and its parent: each by moving an empty folder of the reserve into
    place where there is one, else by mkdir. A folder made meanwhile by another writer is
    fine: moving an empty folder onto an empty one replaces it, onto a full one fails."""
    ahead = reserve.current(tmp_dir())
    for level in (folder.parent, folder):
        if level.is_dir():
            continue
        blank = ahead.take_folder() if ahead is not None else None
        if blank is not None:
            try:
                os.rename(blank, level)
                continue
            except OSError:
                with contextlib.suppress(OSError):
                    blank.rmdir()
        level.mkdir(parents=True, exist_ok=True)


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
