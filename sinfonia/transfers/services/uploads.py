"""Resumable uploads (the tus 1.0 protocol's state, independent of HTTP).

Bytes go to ``tmp/uploads/<id>.part``: its size is the offset, so an upload resumes after a
client disconnect, a server restart or ``kill -9`` exactly where the disk says. SHA-256 is
computed while bytes arrive; a process that lost its running hash (restart) re-reads the part
file once. When the last byte arrives the part file is renamed into the blob store (no copy) and
registered as a File through `register_file`, the same path every transport takes. Until then
nothing is visible in the tree; a checksum mismatch or an expired upload leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, NotFound, ServiceError
from sinfonia.resources import identifiers, selectors
from sinfonia.resources.models import Level, Node
from sinfonia.resources.services import files
from sinfonia.storage import blobstore
from sinfonia.storage import services as storage_services
from sinfonia.storage.writeback import Writeback
from sinfonia.transfers.errors import TransferError
from sinfonia.transfers.models import Upload

HASHERS: dict[str, Callable[[], Any]] = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}


def part_dir() -> Path:
    path = blobstore.tmp_dir() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def part_path(upload: Upload) -> Path:
    return part_dir() / f"{upload.id}.part"


def offset_of(upload: Upload) -> int:
    if upload.completed_at is not None:
        return upload.length
    try:
        return part_path(upload).stat().st_size
    except FileNotFoundError:
        return 0


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class Destination:
    parent: Node
    fileset_name: str | None
    join: bool


def _destination(actor: Actor, meta: dict[str, str]) -> Destination:
    """Where the file goes: ``parent_id`` or ``parent_path``; into a folder, ``fileset`` names
    one fileset that packs several uploads together (the default is one fileset per file)."""
    if meta.get("parent_id"):
        try:
            parent_id = int(meta["parent_id"])
        except ValueError as exc:
            raise Invalid(TransferError.BAD_METADATA, "parent_id must be a number.") from exc
        parent = selectors.get_node(actor, parent_id, Level.READ)
    elif meta.get("parent_path"):
        parent = selectors.lookup(actor, meta["parent_path"])
    else:
        raise Invalid(TransferError.BAD_METADATA, "Upload-Metadata needs parent_id or parent_path.")
    fileset = meta.get("fileset") or None
    return Destination(parent=parent, fileset_name=fileset, join=fileset is not None)


def create_upload(actor: Actor, length: int, meta: dict[str, str]) -> Upload:
    """Open a resumable upload of ``length`` bytes. Validates destination, name, project id and
    size before any byte is accepted.

    Metadata keys: ``filename`` (required), ``parent_id`` | ``parent_path``, ``fileset``,
    ``sinfonia_id``, ``sha256`` (hex, checked at the end), ``content_type``/``filetype``.
    """
    if actor.user is None:
        raise Invalid(TransferError.BAD_METADATA, "Uploads belong to a user.")
    if length < 0:
        raise Invalid(TransferError.BAD_LENGTH, "Upload-Length must be zero or more.")
    if length > settings.SINFONIA_MAX_UPLOAD_SIZE:
        raise Invalid(
            TransferError.TOO_LARGE,
            f"Uploads may be at most {settings.SINFONIA_MAX_UPLOAD_SIZE} bytes.",
        )
    filename = meta.get("filename") or meta.get("name") or ""
    dest = _destination(actor, meta)
    name, _ = files.check_destination(
        actor, dest.parent, filename, dest.fileset_name, join_fileset=dest.join
    )
    if meta.get("sinfonia_id"):
        identifiers.parse(meta["sinfonia_id"])
    expected = meta.get("sha256", "").strip().lower()
    if expected and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise Invalid(TransferError.BAD_METADATA, "sha256 must be 64 hexadecimal digits.")
    upload = Upload.objects.create(
        user=actor.user,
        parent=dest.parent,
        filename=name,
        length=length,
        metadata=meta,
        expires_at=timezone.now() + timedelta(hours=settings.SINFONIA_UPLOAD_EXPIRY_HOURS),
    )
    part_path(upload).touch(exist_ok=False)
    record(
        actor,
        "upload.start",
        dest.parent,
        path=selectors.path_of(dest.parent),
        filename=name,
        length=length,
        upload=str(upload.id),
    )
    return upload


def get_upload(actor: Actor, upload_id: str) -> Upload:
    """The actor's own upload (anyone else's looks missing)."""
    try:
        qs = Upload.objects.filter(pk=upload_id)
    except (ValueError, TypeError):
        qs = Upload.objects.none()
    upload = qs.filter(user=actor.user).first() if actor.user is not None else None
    if upload is None:
        raise NotFound(TransferError.UPLOAD_NOT_FOUND, "No such upload (it may have expired).")
    return upload


_HASHING = ThreadPoolExecutor(max_workers=8, thread_name_prefix="upload-hash")

# Running SHA-256 per upload id, with the offset it covers; rebuilt from disk when missing.
_running: dict[str, tuple[int, Any]] = {}
_running_lock = threading.Lock()


def _running_hash(upload: Upload, fh: Any, offset: int) -> Any:
    key = str(upload.id)
    with _running_lock:
        cached = _running.pop(key, None)
    if cached is not None and cached[0] == offset:
        return cached[1]
    digest = hashlib.sha256()
    fh.seek(0)
    remaining = offset
    while remaining:
        chunk = fh.read(min(blobstore.CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        remaining -= len(chunk)
    return digest


class PartWriter:
    """Appends one request's bytes to an upload. Use: ``write()``… then ``finish()`` (or
    ``abort()`` when the client went away: bytes received so far are kept, as tus wants)."""

    def __init__(self, upload: Upload, offset: int) -> None:
        if upload.completed_at is not None:
            raise Conflict(TransferError.ALREADY_COMPLETE, "This upload is already complete.")
        self.upload = upload
        self.fh = open(part_path(upload), "r+b")  # noqa: SIM115  (closed in _close)
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self.fh.close()
            raise Conflict(
                TransferError.UPLOAD_BUSY, "Another request is writing this upload."
            ) from exc
        current = os.fstat(self.fh.fileno()).st_size
        self.writeback = Writeback(self.fh.fileno(), current)
        if offset != current:
            self._close()
            raise Conflict(
                TransferError.OFFSET_MISMATCH,
                f"Upload-Offset {offset} does not match the {current} bytes received so far.",
            )
        self.start = offset
        self.offset = offset
        self.digest = _running_hash(upload, self.fh, offset)
        self.saved = self.digest.copy()
        self.fh.seek(offset)
        self.chunk_digest: Any = None

    def expect_checksum(self, algorithm: str) -> None:
        if algorithm not in HASHERS:
            self._close()
            raise Invalid(
                TransferError.BAD_CHECKSUM,
                f"Unsupported checksum algorithm {algorithm!r}; use sha256 or sha1.",
            )
        self.chunk_digest = HASHERS[algorithm]()

    def write(self, data: bytes | bytearray) -> None:
        if self.offset + len(data) > self.upload.length:
            self._rollback()
            raise Invalid(
                TransferError.BAD_LENGTH,
                f"More bytes than the declared Upload-Length ({self.upload.length}).",
            )
        # Hash on another core while this thread writes (both release the GIL).
        hashing = _HASHING.submit(self._hash, data)
        self.fh.write(data)
        hashing.result()
        self.offset += len(data)
        self.writeback.written(self.offset)

    def _hash(self, data: bytes | bytearray) -> None:
        self.digest.update(data)
        if self.chunk_digest is not None:
            self.chunk_digest.update(data)

    def finish(self, expected: bytes | None = None) -> int:
        """Close this request's bytes; verify its checksum if one was sent. Returns the offset."""
        mismatch = expected is not None and self.chunk_digest is not None
        if mismatch and self.chunk_digest.digest() != expected:
            self._rollback()
            raise Invalid(
                TransferError.CHECKSUM_MISMATCH,
                "The checksum of the bytes received does not match Upload-Checksum; "
                "they were discarded, send them again.",
            )
        self.fh.flush()
        # Not an fsync per request: a process that dies keeps what it wrote (the page cache
        # is the kernel's), and after a power cut HEAD reports what the disk holds, from
        # which the client resumes. The upload is made durable once, when complete
        # (`blobstore.adopt`), and its bytes go to the disk while the rest arrives.
        self.writeback.written_all(self.offset)
        self._keep()
        return self.offset

    def abort(self) -> int:
        if self.fh.closed:
            return self.offset
        self.fh.flush()
        self._keep()
        return self.offset

    def _keep(self) -> None:
        with _running_lock:
            _running[str(self.upload.id)] = (self.offset, self.digest)
        self._close()

    def _rollback(self) -> None:
        self.fh.truncate(self.start)
        self.offset = self.start
        self.digest = self.saved
        self._keep()

    def _close(self) -> None:
        self.writeback.close()
        if not self.fh.closed:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()

    @property
    def complete(self) -> bool:
        return self.offset == self.upload.length


def complete(actor: Actor, upload: Upload) -> Node:
    """Turn a fully received upload into a File (checksum checked). On any refusal the bytes
    are discarded and the upload is gone: nothing is left behind."""
    path = part_path(upload)
    with open(path, "rb") as fh:
        digest = _running_hash(upload, fh, upload.length)
    sha256 = digest.hexdigest()
    meta = upload.metadata
    stored = None
    try:
        expected = meta.get("sha256", "").strip().lower()
        if expected and expected != sha256:
            raise Invalid(
                TransferError.CHECKSUM_MISMATCH,
                f"The file's SHA-256 is {sha256}, not the {expected} announced; discarded.",
            )
        stored = blobstore.adopt(path, sha256, upload.length)
        dest = _destination(actor, meta)
        with transaction.atomic():
            node = files.register_file(
                actor,
                dest.parent,
                upload.filename,
                stored,
                content_type=meta.get("content_type") or meta.get("filetype") or "",
                fileset_name=dest.fileset_name,
                join_fileset=dest.join,
                sinfonia_id=meta.get("sinfonia_id") or None,
                organise=_bool(meta.get("organise")),
            )
            upload.completed_at = timezone.now()
            upload.file_node = node
            upload.save(update_fields=["completed_at", "file_node"])
        return node
    except ServiceError:
        discard(upload)
        if stored is not None:  # the bytes went in, the registration failed: drop them again
            storage_services.discard_unclaimed(stored.sha256)
        raise


def discard(upload: Upload) -> None:
    part_path(upload).unlink(missing_ok=True)
    with _running_lock:
        _running.pop(str(upload.id), None)
    Upload.objects.filter(pk=upload.pk).delete()


def terminate(actor: Actor, upload: Upload) -> None:
    """Abandon an upload on the client's request (tus termination)."""
    record(actor, "upload.cancel", upload.parent, filename=upload.filename, upload=str(upload.id))
    discard(upload)


def expire_uploads(now: Any = None) -> int:
    """Drop unfinished uploads past their expiry and finished ones past theirs."""
    count = 0
    for upload in Upload.objects.filter(expires_at__lt=now or timezone.now()):
        discard(upload)
        count += 1
    return count
