"""Files: "store bytes, then register". Every transport (multipart upload, resumable upload,
SFTP, DICOM, CLI import) streams bytes into `storage` and then calls `register_file`."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import BinaryIO

from django.db import transaction

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid
from sinfonia.core.names import clean_name
from sinfonia.resources import access, identifiers
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import CONTAINERS, Kind, Level, Node
from sinfonia.resources.selectors import path_of
from sinfonia.resources.services.common import clash_as_conflict, ensure_names_free, new_node
from sinfonia.storage import blobstore
from sinfonia.storage.services import BlobVanished, discard_unclaimed, take_blob


def guess_mime(name: str, declared: str = "") -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed:
        return guessed
    if declared and declared != "application/octet-stream" and "/" in declared:
        return declared.split(";")[0].strip()[:255]
    return "application/octet-stream"


def check_destination(
    actor: Actor,
    parent: Node,
    name: str,
    fileset_name: str | None = None,
    *,
    join_fileset: bool = False,
) -> tuple[str, str | None]:
    """Validate a file's destination before any byte is stored; return the clean names.

    A file sent to a collection or folder gets a new fileset to hold it, named
    ``fileset_name`` or else after the file. With ``join_fileset`` (several files packed into
    one new fileset), an existing fileset of that name receives the file instead.
    """
    access.require(actor, Level.WRITE, parent)
    name = clean_name(name, what="file name")
    if parent.kind == Kind.FILE:
        raise Invalid(ResourceError.WRONG_DESTINATION, "Files go into a fileset or a folder.")
    if parent.kind == Kind.FILESET:
        ensure_names_free(parent, [name])
        return name, None
    wrapper = clean_name(fileset_name, what="fileset name") if fileset_name else name
    if join_fileset:
        existing = _existing_fileset(parent, wrapper)
        if existing is not None:
            access.require(actor, Level.WRITE, existing)
            ensure_names_free(existing, [name])
            return name, wrapper
    ensure_names_free(parent, [wrapper])
    return name, wrapper


def _existing_fileset(parent: Node, name: str) -> Node | None:
    return Node.objects.filter(parent=parent, name=name, in_trash=False, kind=Kind.FILESET).first()


@transaction.atomic
def register_file(
    actor: Actor,
    parent: Node,
    name: str,
    stored: blobstore.StoredBytes,
    *,
    content_type: str = "",
    fileset_name: str | None = None,
    sinfonia_id: str | identifiers.ProjectId | None = None,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    join_fileset: bool = False,
    index: bool = True,
    organise: bool = False,
) -> Node:
    """Make stored bytes visible as a File in ``parent`` (a fileset, or a container that gets a
    new fileset). Checks size and checksum when the client declared them, and queues the file
    for the DICOM indexer (``index=False``: the caller indexes it itself, as DICOM transports
    do); ``organise`` asks the indexer to file DICOM into Patient/Study/Series folders under
    ``parent`` (when it is a collection or folder).

    Errors: NotFound/PermissionDenied (no write access), Invalid (bad name, checksum or size
    mismatch, wrong destination), Conflict (name taken).
    """
    name, wrapper = check_destination(actor, parent, name, fileset_name, join_fileset=join_fileset)
    if expected_sha256 is not None and expected_sha256.lower() != stored.sha256:
        raise Invalid(
            ResourceError.INVALID_METADATA,
            f"Checksum mismatch for {name!r}: expected {expected_sha256}, got {stored.sha256}.",
        )
    if expected_size is not None and expected_size != stored.size:
        raise Invalid(
            ResourceError.INVALID_METADATA,
            f"Size mismatch for {name!r}: expected {expected_size} bytes, got {stored.size}.",
        )
    pid = identifiers.parse(sinfonia_id) if isinstance(sinfonia_id, str) else sinfonia_id
    try:
        blob = take_blob(stored)
    except BlobVanished as exc:
        raise Conflict(
            ResourceError.NOT_FOUND, "Stored bytes vanished; send the file again."
        ) from exc
    fileset = parent
    joined = _existing_fileset(parent, wrapper) if wrapper and join_fileset else None
    if joined is not None:
        fileset = joined
    elif wrapper is not None:
        with clash_as_conflict(wrapper):
            fileset = new_node(
                kind=Kind.FILESET,
                parent=parent,
                name=wrapper,
                acl_root_id=parent.acl_root_id,
                project_id=pid,
                creator=actor.user,
            )
            fileset.save()
    with clash_as_conflict(name):
        node = new_node(
            kind=Kind.FILE,
            parent=fileset,
            name=name,
            acl_root_id=fileset.acl_root_id,
            project_id=pid,
            blob=blob,
            size=stored.size,
            mime_type=guess_mime(name, content_type),
            creator=actor.user,
        )
        node.save()
    record(actor, "file.upload", node, path=path_of(node), size=stored.size, sha256=stored.sha256)
    if index:
        from sinfonia.dicom.services.ingest import queue_file

        organise_into = parent if organise and parent.kind in CONTAINERS else None
        queue_file(node, organise_into=organise_into, user=actor.user)
    return node


def upload_file(
    actor: Actor,
    parent: Node,
    name: str,
    stream: BinaryIO,
    *,
    content_type: str = "",
    fileset_name: str | None = None,
    sinfonia_id: str | identifiers.ProjectId | None = None,
    organise: bool = False,
) -> Node:
    """Stream ``stream`` into storage, then register it in ``parent`` (see `register_file`).

    The destination is checked before the bytes are read so that a refused upload costs
    nothing; the bytes are written outside any database transaction, and discarded again if
    registering them fails (a name taken meanwhile), so no unclaimed bytes stay behind.
    """
    check_destination(actor, parent, name, fileset_name)
    pid = identifiers.parse(sinfonia_id) if isinstance(sinfonia_id, str) else sinfonia_id
    stored = blobstore.write_stream(stream)
    try:
        return register_file(
            actor,
            parent,
            name,
            stored,
            content_type=content_type,
            fileset_name=fileset_name,
            sinfonia_id=pid,
            organise=organise,
        )
    except BaseException:
        discard_unclaimed(stored.sha256)
        raise


@dataclass(frozen=True, slots=True)
class Download:
    node: Node
    sha256: str
    size: int
    name: str
    mime_type: str


def open_download(actor: Actor, node: Node) -> Download:
    """Authorise reading a file's bytes and record it; the front-end streams them."""
    access.require(actor, Level.READ, node)
    if node.kind != Kind.FILE or node.blob_id is None:
        raise Invalid(ResourceError.NOT_A_FILE, f"{node.name!r} is a {node.kind_name}, not a file.")
    record(actor, "file.download", node, path=path_of(node), size=node.size)
    return Download(
        node=node, sha256=node.blob_id, size=node.size, name=node.name, mime_type=node.mime_type
    )
