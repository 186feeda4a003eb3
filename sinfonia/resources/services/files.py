"""Files: "store bytes, then register". Every transport (multipart upload, resumable upload,
SFTP, DICOM, CLI import) streams bytes into `storage` and then calls `register_file`."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from django.db import transaction

from sinfonia.audit.services import record, record_many
from sinfonia.core import bulk
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid
from sinfonia.core.names import clean_name
from sinfonia.resources import access, identifiers
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import CONTAINERS, Kind, Level, Node
from sinfonia.resources.selectors import path_of, paths_of
from sinfonia.resources.services.common import clash_as_conflict, ensure_names_free, new_node
from sinfonia.storage import blobstore
from sinfonia.storage.services import BlobVanished, discard_unclaimed, take_blob, take_blobs


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


@dataclass(frozen=True, slots=True)
class NewFile:
    """One file of a `register_files` batch: its name in ``fileset``."""

    fileset: Node
    name: str
    stored: blobstore.StoredBytes
    content_type: str = ""


@transaction.atomic
def register_files(actor: Actor, files: Sequence[NewFile]) -> list[Node]:
    """`register_file` for a batch of files into existing filesets (``index=False``: for
    transports that index what they receive themselves, STOW-RS): the same checks, rows and
    one "file.upload" audit event per file, in a few queries for the whole batch. All or none
    of the batch is registered.

    Errors: NotFound/PermissionDenied (no write access), Invalid (bad name, not a fileset),
    Conflict (a name taken, or repeated in its fileset).
    """
    if not files:
        return []
    filesets = {f.fileset.id: f.fileset for f in files}
    checked: set[tuple[int | None, bool]] = set()
    for fileset in filesets.values():
        if fileset.kind != Kind.FILESET:
            raise Invalid(ResourceError.WRONG_DESTINATION, "A batch of files goes into filesets.")
        if (fileset.acl_root_id, fileset.in_trash) not in checked:  # the same answer for all
            access.require(actor, Level.WRITE, fileset)  # below one access-list root
            checked.add((fileset.acl_root_id, fileset.in_trash))
    names = [clean_name(f.name, what="file name") for f in files]
    wanted: dict[int, list[str]] = {}
    for f, name in zip(files, names, strict=True):
        wanted.setdefault(f.fileset.id, []).append(name)
    if len(wanted) == 1:
        ((only, only_names),) = wanted.items()
        ensure_names_free(filesets[only], only_names)
    else:
        _ensure_names_free_in(filesets, wanted)
    try:
        take_blobs(f.stored for f in files)
    except BlobVanished as exc:
        raise Conflict(
            ResourceError.NOT_FOUND, "Stored bytes vanished; send the file again."
        ) from exc
    nodes = [
        new_node(
            kind=Kind.FILE,
            parent=f.fileset,
            name=name,
            acl_root_id=f.fileset.acl_root_id,
            blob_id=f.stored.sha256,
            size=f.stored.size,
            mime_type=guess_mime(name, f.content_type),
            creator=actor.user,
        )
        for name, f in zip(names, files, strict=True)
    ]
    with clash_as_conflict(names[0] if len(names) == 1 else f"{names[0]} (or another)"):
        bulk.insert_returning_ids(nodes)
    paths = paths_of(list(filesets.values()))
    record_many(
        actor,
        "file.upload",
        [
            (
                node,
                f"{paths[f.fileset.id]}/{node.name}",
                {"size": f.stored.size, "sha256": f.stored.sha256},
            )
            for node, f in zip(nodes, files, strict=True)
        ],
    )
    return nodes


def _ensure_names_free_in(filesets: dict[int, Node], wanted: dict[int, list[str]]) -> None:
    """`ensure_names_free` for several filesets in one query."""
    for fileset_id, names in wanted.items():
        if len(set(names)) < len(names):
            ensure_names_free(filesets[fileset_id], names)  # raises for the repeated name
    taken = Node.objects.filter(
        parent_id__in=list(wanted),
        name__in={n for names in wanted.values() for n in names},
        in_trash=False,
    ).values_list("parent_id", "name")
    for parent_id, name in taken:
        if parent_id is not None and name in wanted[parent_id]:
            ensure_names_free(filesets[parent_id], [name])  # raises with the usual message


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
