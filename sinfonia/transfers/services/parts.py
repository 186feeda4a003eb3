"""Uploads written at any offset, length unknown until the end (SFTP): "pending parts".

A part belongs to one user and one destination path in the tree. Its bytes go to
``tmp/parts/<user id>/<key>.part`` (``key``: SHA-256 of the path) with positional writes, so
pipelined writes arriving out of order land where they belong; SHA-256 is computed on the way
while bytes arrive in order (out-of-order ranges are read back once they join up, and a
rewrite or a resumed part is hashed again at the end).

- `PartFile.finish` (the client closed the file) moves the bytes into the blob store and makes
  them a File through `register_file`, exactly like any other upload.
- `PartFile.abandon` (the connection dropped) keeps the part: it is not in the tree, so
  listings do not show it, but `pending_size` reports its size so that a client asking to
  resume (``reput``) appends to it. Parts untouched for ``SINFONIA_UPLOAD_EXPIRY_HOURS`` are
  dropped by `expire_parts`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import unicodedata
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings

from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, ServiceError
from sinfonia.resources import selectors
from sinfonia.resources.models import Node
from sinfonia.resources.services import files
from sinfonia.storage import blobstore
from sinfonia.storage import services as storage_services
from sinfonia.storage.writeback import Writeback
from sinfonia.transfers.errors import TransferError

GATHER = 1024 * 1024
# Bytes received but not hashed yet, per file, before a write waits for the hash to catch up:
# hashing runs beside the event loop, and this keeps memory flat when it is the slower side.
HASH_BACKLOG = 8 * 1024 * 1024


def _root() -> Path:
    return blobstore.tmp_dir() / "parts"


def _key(path: str) -> str:
    return hashlib.sha256(unicodedata.normalize("NFC", path).encode("utf-8")).hexdigest()


def _paths(actor: Actor, path: str) -> tuple[Path, Path]:
    assert actor.user is not None
    folder = _root() / str(actor.user.pk)
    key = _key(path)
    return folder / f"{key}.part", folder / f"{key}.json"


def pending_size(actor: Actor, path: str) -> int | None:
    """Bytes received so far by the actor's unfinished upload to ``path``, or None."""
    if actor.user is None:
        return None
    part, _ = _paths(actor, path)
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return None


def discard_pending(actor: Actor, path: str) -> None:
    """Drop the actor's unfinished upload to ``path`` (unless a session is writing it)."""
    part, meta = _paths(actor, path)
    try:
        fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise Conflict(TransferError.UPLOAD_BUSY, "A session is uploading it right now.") from exc
    finally:
        os.close(fd)
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)


def open_part(
    actor: Actor, parent: Node, name: str, path: str, *, truncate: bool, append: bool = False
) -> PartFile:
    """Start (or, without ``truncate``, resume) the actor's upload of ``name`` into ``parent``
    (``path`` is where it will be in the tree). The destination is checked before any byte is
    accepted: write access, a valid name, and no element of that name there yet.

    With ``append``, every write goes to the end whatever its offset (SFTP's FXF_APPEND).
    Errors: those of `files.check_destination`; Conflict when another session writes it.
    """
    files.check_destination(actor, parent, name)
    part, meta = _paths(actor, path)
    part.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise Conflict(
            TransferError.UPLOAD_BUSY, f"Another session is uploading {name!r} right now."
        ) from exc
    if truncate:
        os.ftruncate(fd, 0)
    meta.write_text(
        json.dumps({"path": path, "parent_id": parent.id, "name": name, "started": time.time()})
    )
    return PartFile(actor, parent.id, name, part, meta, fd, append=append)


class PartFile:
    """An open pending part. Not thread-safe: one session writes it, one request at a time."""

    def __init__(
        self,
        actor: Actor,
        parent_id: int,
        name: str,
        part: Path,
        meta: Path,
        fd: int,
        *,
        append: bool = False,
    ) -> None:
        self.actor = actor
        self.append = append
        self.parent_id = parent_id
        self.name = name
        self.part = part
        self.meta = meta
        self.fd = fd
        self.size = os.fstat(fd).st_size
        # Hashing follows the bytes in order: ``hashed`` bytes are in ``digest``; ranges
        # written beyond it wait in ``ahead`` (offset -> length) until the gap closes.
        self.digest: Any = hashlib.sha256()
        self.hashed = 0
        self.ahead: dict[int, int] = {}
        self.rehash = self.size > 0  # resumed: the bytes already there are hashed at the end
        self.writeback = Writeback(fd)
        # One thread per open upload hashes in arrival order, on the other core (hashlib
        # releases the GIL), while the event loop keeps receiving.
        self.hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="part-hash")
        self.backlog: deque[tuple[Future[None], int]] = deque()
        self.backlog_bytes = 0
        # Contiguous writes are gathered (SFTP clients send 32-256 KiB each) and written and
        # hashed a MiB at a time: one system call and one hashing job instead of 32.
        self.pending: list[bytes] = []
        self.pending_at = 0
        self.pending_len = 0

    def write(self, offset: int, data: bytes) -> None:
        if self.append:
            offset = self.size
        end = offset + len(data)
        if end > settings.SINFONIA_MAX_UPLOAD_SIZE:
            raise Invalid(
                TransferError.TOO_LARGE,
                f"Files may be at most {settings.SINFONIA_MAX_UPLOAD_SIZE} bytes.",
            )
        if self.pending and offset != self.pending_at + self.pending_len:
            self._flush()
        if not self.pending:
            self.pending_at = offset
        self.pending.append(data)
        self.pending_len += len(data)
        self.size = max(self.size, end)
        if self.pending_len >= GATHER:
            self._flush()

    def _flush(self) -> None:
        """Write (and queue for hashing) the gathered bytes."""
        if not self.pending:
            return
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        offset = self.pending_at
        self.pending, self.pending_len = [], 0
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self.fd, view, offset + len(data) - len(view)) :]
        if not self.rehash:
            self._queue_hash(offset, data)
        self.writeback.written(offset + len(data))

    def _queue_hash(self, offset: int, data: bytes) -> None:
        self.backlog.append((self.hasher.submit(self._hash, offset, data), len(data)))
        self.backlog_bytes += len(data)
        while self.backlog and (self.backlog[0][0].done() or self.backlog_bytes > HASH_BACKLOG):
            done, size = self.backlog.popleft()
            done.result()
            self.backlog_bytes -= size

    def _drain_hashing(self) -> None:
        """Write what is gathered, wait for every queued hash (before reading the digest or
        closing the file)."""
        if self.fd >= 0:
            self._flush()
        self.hasher.shutdown(wait=True)
        for done, _ in self.backlog:
            done.result()
        self.backlog.clear()
        self.backlog_bytes = 0

    def _hash(self, offset: int, data: bytes) -> None:
        if offset < self.hashed or offset in self.ahead:
            self.rehash = True  # bytes already hashed are being rewritten
            return
        if offset > self.hashed:
            self.ahead[offset] = len(data)
            return
        self.digest.update(data)
        self.hashed += len(data)
        while self.hashed in self.ahead:
            length = self.ahead.pop(self.hashed)
            self.digest.update(os.pread(self.fd, length, self.hashed))
            self.hashed += length

    def read(self, offset: int, size: int) -> bytes:
        self._flush()
        return os.pread(self.fd, size, offset)

    def truncate(self, size: int) -> None:
        self._flush()
        os.ftruncate(self.fd, size)
        if size < self.size:
            self.rehash = True
        self.size = size

    def _sha256(self) -> str:
        self._drain_hashing()
        if self.rehash or self.ahead or self.hashed > self.size:
            self.digest, self.hashed, self.ahead = hashlib.sha256(), 0, {}
        while self.hashed < self.size:
            chunk = os.pread(self.fd, min(blobstore.CHUNK, self.size - self.hashed), self.hashed)
            if not chunk:
                break
            self.digest.update(chunk)
            self.hashed += len(chunk)
        return str(self.digest.hexdigest())

    def finish(self) -> Node:
        """The upload is complete: store the bytes and register the File (blocking: hashes
        what is left, flushes to disk). On a refusal the bytes are discarded, as for tus."""
        stored = None
        try:
            sha256 = self._sha256()
            stored = blobstore.adopt(self.part, sha256, self.size)
            parent = selectors.get_node(self.actor, self.parent_id)
            return files.register_file(self.actor, parent, self.name, stored)
        except ServiceError:
            if stored is not None:
                storage_services.discard_unclaimed(stored.sha256)
            raise
        finally:
            self._close()
            self.part.unlink(missing_ok=True)
            self.meta.unlink(missing_ok=True)

    def abandon(self) -> None:
        """The client went away without closing: keep the bytes for a resumed upload."""
        self._close()

    def discard(self) -> None:
        self._close()
        self.part.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)

    def _close(self) -> None:
        try:
            self._drain_hashing()
        finally:
            self.writeback.close()
            if self.fd >= 0:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
                self.fd = -1


def expire_parts(max_age_hours: float | None = None) -> int:
    """Drop pending parts untouched for longer than the upload expiry; return how many."""
    hours = settings.SINFONIA_UPLOAD_EXPIRY_HOURS if max_age_hours is None else max_age_hours
    cutoff = time.time() - hours * 3600
    count = 0
    root = _root()
    if not root.exists():
        return 0
    for part in root.glob("*/*.part"):
        try:
            if part.stat().st_mtime >= cutoff:
                continue
            fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # being written right now
        finally:
            os.close(fd)
        part.unlink(missing_ok=True)
        part.with_suffix(".json").unlink(missing_ok=True)
        count += 1
    return count
