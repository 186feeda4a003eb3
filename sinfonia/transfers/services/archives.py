"""Streamed ZIP archives of any selection (files, filesets, folders, collections).

The archive is generated while it is sent: no temporary file, memory flat whatever the size.
Members are deflate-framed at level 0 (stored blocks), which keeps the CRC computed on the fly
and costs about a memory copy; ZIP64 records are used, so members and archives beyond 4 GB work.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from stat import S_IFDIR, S_IFREG
from uuid import UUID

from stream_zip import ZIP_64, stream_zip

from sinfonia.audit.models import AuditEvent
from sinfonia.core.context import Actor
from sinfonia.resources import selectors
from sinfonia.resources.models import Kind, Node
from sinfonia.storage import blobstore
from sinfonia.transfers.services import operations


@dataclass(frozen=True, slots=True)
class Member:
    path: str
    node: Node


def members(actor: Actor, nodes: list[Node]) -> list[Member]:
    """Every readable file under the selection, with its path inside the archive.

    Paths keep the tree from each picked element down, empty folders included; a fileset
    holding exactly one file of its own name becomes that file (the same convention as
    ``sinfonia export``, both from `selectors.walk`). Reading is recorded in the audit trail,
    one event per file, before any byte is sent.
    """
    out: list[Member] = []
    used: set[str] = set()
    directories: list[Member] = []
    for node in nodes:
        for parts, element in selectors.walk(actor, node):
            if element.kind == Kind.FILE:
                out.append(Member(path=_unique("/".join(parts), used), node=element))
            else:
                directories.append(Member(path="/".join(parts) + "/", node=element))
    # Directories go in only when empty: the files' paths already carry the others.
    with_files = {p for m in out for p in _parents(m.path)}
    out.extend(m for m in directories if m.path not in with_files and m.path[:-1] not in used)
    _audit_reads(actor, out)
    return out


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for n in range(1, len(parts)):
        yield "/".join(parts[:n]) + "/"


def _unique(path: str, used: set[str]) -> str:
    """Two picked elements of the same name from different places must not collide."""
    candidate, n = path, 1
    while candidate in used:
        n += 1
        head, dot, ext = path.rpartition(".")
        candidate = f"{head} ({n}).{ext}" if dot and "/" not in ext else f"{path} ({n})"
    used.add(candidate)
    return candidate


def _audit_reads(actor: Actor, items: list[Member]) -> None:
    files = [m for m in items if m.node.kind == Kind.FILE]
    AuditEvent.objects.bulk_create(
        AuditEvent(
            user=actor.user,
            username=actor.username,
            action="file.download",
            node=m.node,
            path=selectors.path_of(m.node),
            channel=actor.channel,
            client=actor.client[:255],
            detail={"size": m.node.size, "archive": True},
        )
        for m in files
    )


def tracked(
    actor: Actor, items: list[Member], chunks: Iterator[bytes], token: UUID | None = None
) -> tuple[str, Iterator[bytes]]:
    """Report an archive's progress (bytes of members sent) as an operation; return its id
    and the chunks to send. A client that goes away leaves the operation "failed".

    ``token``: the operation id the client chose, so that a page which cannot read this
    response's headers (a download the browser saves to disk) can poll the progress.
    """
    total = sum(m.node.size for m in items if m.node.kind == Kind.FILE)
    progress = operations.track(actor, "archive.build", total, token=token)

    def counting() -> Iterator[bytes]:
        sent = 0
        try:
            for chunk in chunks:
                sent += len(chunk)
                progress.update(min(sent, progress.op.total))
                yield chunk
        except GeneratorExit:
            operations.finish(progress, error="the download was interrupted")
            raise
        progress.update(progress.op.total, progress.op.total)
        operations.finish(progress)

    return str(progress.op.id), counting()


def zip_chunks(items: Iterable[Member]) -> Iterator[bytes]:
    def member_files() -> Iterator[tuple[str, datetime, int, object, Iterable[bytes]]]:
        for m in items:
            modified = m.node.updated_at.replace(tzinfo=None)
            if m.node.blob_id is None:  # a folder, or a fileset kept as a directory
                yield m.path, modified, S_IFDIR | 0o755, ZIP_64, ()
            else:
                chunks = blobstore.read_chunks(m.node.blob_id)
                yield m.path, modified, S_IFREG | 0o644, ZIP_64, chunks

    yield from stream_zip(
        member_files(),  # type: ignore[arg-type]
        chunk_size=blobstore.CHUNK,
        get_compressobj=lambda: zlib.compressobj(wbits=-zlib.MAX_WBITS, level=0),
    )
