"""``/repository``: the tree as the signed-in user may see it, through services only.

Collections, folders and filesets are directories; files are files. A fileset holding exactly
one file of its own name (what an upload into a folder creates) is shown as that file, as in
exports (`selectors.walk`), so a tree sent with ``put -r`` comes back alike with ``get -r``.
These functions block (database, hashing): the server runs them in worker threads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import asyncssh
from django.db import transaction

from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, NotFound
from sinfonia.resources import selectors
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import CONTAINERS, Kind, Node
from sinfonia.resources.services import copymove, files, trash, tree
from sinfonia.storage import blobstore
from sinfonia.transfers.services import parts
from sinfonia.transfers.services.parts import PartFile

PAGE = selectors.MAX_PAGE


@dataclass(frozen=True, slots=True)
class Item:
    """What a path shows: ``node`` is the element (for a file standing in a fileset, the
    fileset, with the file in ``file``); both None for ``/repository`` and pending uploads."""

    name: str
    is_dir: bool
    size: int = 0
    mtime: float = 0.0
    node: Node | None = None
    file: Node | None = None

    @property
    def target(self) -> Node:
        """The element a change applies to (a standing fileset goes with its file)."""
        assert self.node is not None
        return self.node


def _item(node: Node, standing: Node | None = None) -> Item:
    if node.kind == Kind.FILE:
        return Item(node.name, False, node.size, node.updated_at.timestamp(), node, node)
    if standing is not None:
        return Item(
            node.name, False, standing.size, standing.updated_at.timestamp(), node, standing
        )
    return Item(node.name, True, 0, node.updated_at.timestamp(), node)


def _path(names: Sequence[str]) -> str:
    return "/" + "/".join(names)


def resolve(actor: Actor, names: Sequence[str]) -> Item:
    """The item at ``names`` (below /repository); NotFound when missing or not visible."""
    if not names:
        return Item("repository", True)
    node = selectors.lookup(actor, _path(names))
    if node.kind == Kind.FILESET:
        standing = selectors.standing_files(actor, [node]).get(node.id)
        return _item(node, standing)
    return _item(node)


def stat(actor: Actor, names: Sequence[str]) -> Item:
    """Like `resolve`, and an unfinished upload of the actor's shows as a file of its size."""
    try:
        return resolve(actor, names)
    except NotFound:
        size = parts.pending_size(actor, _path(names)) if names else None
        if size is None:
            raise
        return Item(names[-1], False, size)


def directory(actor: Actor, names: Sequence[str]) -> Node | None:
    """The node listed or written into at ``names`` (None: /repository itself)."""
    item = resolve(actor, names)
    if not item.is_dir:
        raise asyncssh.SFTPNotADirectory(f"Not a directory: {_path(names)}")
    return item.node


def list_page(actor: Actor, names: Sequence[str], offset: int) -> tuple[list[Item], bool]:
    """One page of a directory, and whether more follow."""
    node = directory(actor, names)
    if node is None:
        page = selectors.list_collections(actor, offset=offset, limit=PAGE, include_homes=True)
    else:
        page = selectors.list_children(actor, node, offset=offset, limit=PAGE)
    standing = selectors.standing_files(actor, page.items)
    items = [_item(n, standing.get(n.id)) for n in page.items]
    return items, offset + len(items) < page.total


READ_AHEAD = 32 * 1024 * 1024
# Asking the kernel to read ahead can wait on the disk: a thread of its own does it, so the
# event loop keeps encrypting and sending while the next bytes come from disk.
_PREFETCH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sftp-readahead")


class Reader:
    """A file's bytes open for reading, fetched ahead of the client's requests."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.ahead = 0
        self.prefetch: Future[None] | None = None
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

    def read(self, offset: int, size: int) -> bytes:
        near_end = offset + size + READ_AHEAD // 2 > self.ahead and self.ahead < self.size
        if near_end and (self.prefetch is None or self.prefetch.done()):
            start = max(self.ahead, offset)
            self.ahead = start + READ_AHEAD
            self.prefetch = _PREFETCH.submit(
                os.posix_fadvise, self.fd, start, READ_AHEAD, os.POSIX_FADV_WILLNEED
            )
        return os.pread(self.fd, size, offset)

    def close(self) -> None:
        if self.prefetch is not None:
            self.prefetch.exception()  # waits: the descriptor must outlive its use there
        os.close(self.fd)


def open_read(actor: Actor, names: Sequence[str]) -> Reader:
    """Open a file's bytes for reading; the read is recorded in the audit trail."""
    item = resolve(actor, names)
    if item.is_dir or item.file is None:
        raise asyncssh.SFTPFileIsADirectory(f"Is a directory: {_path(names)}")
    download = files.open_download(actor, item.file)
    fd = os.open(blobstore.blob_path(download.sha256), os.O_RDONLY | os.O_CLOEXEC)
    return Reader(fd, download.size)


def open_write(
    actor: Actor, names: Sequence[str], *, truncate: bool, append: bool = False
) -> PartFile:
    """Start or resume uploading a new file at ``names`` (files are never overwritten)."""
    if len(names) < 2:
        raise asyncssh.SFTPPermissionDenied("Files go into a collection, folder or fileset.")
    parent = directory(actor, names[:-1])
    assert parent is not None
    try:
        resolve(actor, names)
    except NotFound:
        pass
    else:
        raise Conflict(
            ResourceError.NAME_TAKEN,
            f"{names[-1]!r} already exists; files in the repository are not overwritten "
            "(delete it first: it goes to your recycle bin).",
        )
    return parts.open_part(actor, parent, names[-1], _path(names), truncate=truncate, append=append)


def mkdir(actor: Actor, names: Sequence[str]) -> None:
    if not names:
        raise Conflict(ResourceError.NAME_TAKEN, "/repository exists.")
    parent = directory(actor, names[:-1])
    if parent is None:
        tree.create_collection(actor, names[-1])
    else:
        tree.create_folder(actor, parent, names[-1])


def rmdir(actor: Actor, names: Sequence[str]) -> None:
    item = resolve(actor, names)
    if item.node is None:
        raise asyncssh.SFTPPermissionDenied("/repository cannot be removed.")
    if not item.is_dir:
        raise asyncssh.SFTPNotADirectory(f"Not a directory: {_path(names)}")
    if selectors.list_children(actor, item.node, limit=1).total:
        raise asyncssh.SFTPFailure(f"Directory not empty: {_path(names)}")
    trash.trash_nodes(actor, [item.node])


def remove(actor: Actor, names: Sequence[str]) -> None:
    """Send a file to the actor's recycle bin (or drop their unfinished upload there)."""
    try:
        item = resolve(actor, names)
    except NotFound:
        part = parts.pending_size(actor, _path(names)) if names else None
        if part is None:
            raise
        parts.discard_pending(actor, _path(names))
        return
    if item.is_dir:
        raise asyncssh.SFTPFileIsADirectory(f"Is a directory: {_path(names)}")
    trash.trash_nodes(actor, [item.target])


@transaction.atomic
def rename(actor: Actor, old: Sequence[str], new: Sequence[str]) -> None:
    """Rename (`tree.update_node`) and/or move (`copymove.move_nodes`); never replaces."""
    item = resolve(actor, old)
    if item.node is None or not new:
        raise asyncssh.SFTPPermissionDenied("/repository cannot be renamed.")
    try:
        resolve(actor, new)
    except NotFound:
        pass
    else:
        raise Conflict(ResourceError.NAME_TAKEN, f"{new[-1]!r} already exists there.")
    dest = directory(actor, new[:-1])
    node, name = item.node, new[-1]
    if node.kind == Kind.COLLECTION or dest is None:
        if node.kind != Kind.COLLECTION or dest is not None:
            raise asyncssh.SFTPPermissionDenied("Collections stay at the top of /repository.")
        tree.update_node(actor, node, name=name)
        return
    if node.parent_id != dest.id:
        node = _move(actor, item, dest)
    _rename(actor, node, name)


def _move(actor: Actor, item: Item, dest: Node) -> Node:
    node = item.target
    if item.file is not None and item.file is not node and dest.kind == Kind.FILESET:
        # A file shown for its fileset goes into the fileset alone; the empty wrapper goes
        # to the recycle bin (restorable, like anything removed).
        copymove.move_nodes(actor, [item.file], dest)
        trash.trash_nodes(actor, [node])
        return item.file
    copymove.move_nodes(actor, [node], dest)
    node.refresh_from_db()
    if node.kind == Kind.FILE and dest.kind in CONTAINERS:
        assert node.parent is not None
        return node.parent  # the new fileset made to hold it, named after it
    return node


def _rename(actor: Actor, node: Node, name: str) -> None:
    if node.name == name:
        return
    standing = selectors.standing_files(actor, [node]).get(node.id)
    tree.update_node(actor, node, name=name)
    if standing is not None:
        tree.update_node(actor, standing, name=name)


def ensure_exists(actor: Actor, names: Sequence[str]) -> None:
    """Raise NotFound unless something is at ``names`` (setstat on a path)."""
    stat(actor, names)
