"""Moving data between a user's staging area and the repository, in the background.

- Import: picked staging entries (files and whole folder trees) go into a new folder of any
  collection or folder the user may write, named ``upload_<user>_<yyyymmdd>_<hhmmss±tz>``
  unless the user names it; each file is stored and registered like any upload (a file in a
  folder gets its own fileset), optionally tagged with a project identifier.
- Export: picked repository elements are written into ``download_<user>_<timestamp>/`` of the
  staging area, in the layout of `selectors.walk` (the one exports and ZIP downloads use);
  each file read is recorded in the audit trail, and the staging quota applies.

Both are operations with progress in bytes (`operations.enqueue`); the checks run when the
request is made and again when the operation starts.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO

from django.utils import timezone

from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, ServiceError
from sinfonia.core.names import clean_name
from sinfonia.resources import access, identifiers, selectors
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.services import files, tree
from sinfonia.resources.services.common import ensure_names_free, require_container
from sinfonia.storage import blobstore
from sinfonia.transfers.errors import TransferError
from sinfonia.transfers.models import Operation
from sinfonia.transfers.services import operations
from sinfonia.transfers.services.staging import Area, quota, split


def default_name(prefix: str, actor: Actor, now: datetime | None = None) -> str:
    """``<prefix>_<user>_<yyyymmdd>_<hhmmss±tz>`` in the server's time zone."""
    stamp = timezone.localtime(now or timezone.now()).strftime("%Y%m%d_%H%M%S%z")
    return f"{prefix}_{actor.username}_{stamp}"


def _picked(area: Area, paths: list[str]) -> list[list[str]]:
    if not paths:
        raise Invalid(ResourceError.EMPTY_SELECTION, "Pick at least one file or folder.")
    picked = []
    for path in dict.fromkeys(paths):
        parts = split(path)
        if not parts:
            raise Invalid(
                TransferError.STAGING_INVALID, "Pick files or folders, not the whole area."
            )
        area.stat(parts)  # NotFound when missing
        picked.append(parts)
    names = [p[-1] for p in picked]
    if len(set(names)) != len(names):
        raise Conflict(ResourceError.NAME_TAKEN, "Two picked entries have the same name.")
    return picked


def _size_of(area: Area, parts: list[str]) -> int:
    path = area.path(parts)
    if not path.is_dir():
        return os.lstat(path).st_size
    total = 0
    for folder, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def _check_import(
    actor: Actor, destination: Node, folder_name: str | None, sinfonia_id: str | None
) -> str | None:
    access.require(actor, Level.WRITE, destination)
    require_container(destination, "Imports")
    if sinfonia_id:
        identifiers.parse(sinfonia_id)
    if not folder_name:
        return None
    name = clean_name(folder_name, what="folder name")
    ensure_names_free(destination, [name])
    return name


def start_import(
    actor: Actor,
    paths: list[str],
    destination: Node,
    *,
    folder_name: str | None = None,
    sinfonia_id: str | None = None,
    remove_after: bool = False,
) -> Operation:
    """Queue the import of staging entries ``paths`` into a new folder of ``destination``.

    Errors: NotFound (an entry or the destination), PermissionDenied (no write access),
    Invalid (destination not a collection or folder, bad name or identifier), Conflict
    (folder name taken, two picked entries of the same name).
    """
    area = Area.of(actor)
    picked = _picked(area, paths)
    name = _check_import(actor, destination, folder_name, sinfonia_id)
    total = sum(_size_of(area, p) for p in picked)
    return _with_total(
        operations.enqueue(
            actor,
            "staging.import",
            {
                "paths": ["/".join(p) for p in picked],
                "destination_id": destination.id,
                "folder_name": name,
                "sinfonia_id": sinfonia_id or None,
                "remove_after": remove_after,
                "total": total,
            },
        ),
        total,
    )


def _with_total(op: Operation, total: int) -> Operation:
    """Show the size of the work while the operation waits in the queue."""
    Operation.objects.filter(pk=op.pk).update(total=total)
    op.total = total
    return op


def _new_folder(
    actor: Actor, parent: Node, name: str | None, prefix: str, sinfonia_id: str | None
) -> Node:
    if name is not None:
        return tree.create_folder(actor, parent, name, sinfonia_id=sinfonia_id)
    base = default_name(prefix, actor)
    for n in range(1, 100):
        candidate = base if n == 1 else f"{base}_{n}"
        try:
            return tree.create_folder(actor, parent, candidate, sinfonia_id=sinfonia_id)
        except Conflict:
            continue
    raise Conflict(ResourceError.NAME_TAKEN, f"Too many folders named {base!r}.")


class _Counting:
    """A file read by `upload_file`, reporting the bytes read to the operation."""

    def __init__(self, fh: BinaryIO, advance: Callable[[int], None]) -> None:
        self.fh = fh
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.advance(len(data))
        return data


class _Importer:
    def __init__(self, actor: Actor, area: Area, progress: operations.Progress, pid: str | None):
        self.actor = actor
        self.area = area
        self.progress = progress
        self.pid = pid
        self.done = 0
        self.files = 0
        self.skipped: list[dict[str, str]] = []

    def advance(self, n: int) -> None:
        self.done += n
        self.progress.update(self.done)

    def entry(self, parts: list[str], parent: Node) -> None:
        path = self.area.path(parts)
        name = parts[-1]
        try:
            if path.is_symlink():
                raise Invalid(TransferError.STAGING_INVALID, "symbolic link")
            if path.is_dir():
                folder = tree.create_folder(self.actor, parent, name, sinfonia_id=self.pid)
                for child, _st in self.area.entries(parts):
                    self.entry([*parts, child], folder)
                return
            with open(path, "rb", buffering=0) as fh:
                stream: Any = _Counting(fh, self.advance)
                files.upload_file(self.actor, parent, name, stream, sinfonia_id=self.pid)
            self.files += 1
        except (ServiceError, OSError) as exc:
            reason = exc.message if isinstance(exc, ServiceError) else str(exc.strerror)
            self.skipped.append({"path": "/".join(parts), "reason": reason})


@operations.handler("staging.import")
def run_import(
    actor: Actor, params: dict[str, Any], progress: operations.Progress
) -> dict[str, Any]:
    area = Area.of(actor)
    destination = selectors.get_node(actor, params["destination_id"], Level.WRITE)
    pid = params.get("sinfonia_id")
    _check_import(actor, destination, params.get("folder_name"), pid)
    picked = [split(p) for p in params["paths"]]
    progress.update(0, params.get("total", 0), "importing")
    folder = _new_folder(actor, destination, params.get("folder_name"), "upload", pid)
    importer = _Importer(actor, area, progress, pid)
    for parts in picked:
        importer.entry(parts, folder)
    if params.get("remove_after"):
        failed = {s["path"] for s in importer.skipped}
        for parts in picked:
            prefix = "/".join(parts)
            if not any(f == prefix or f.startswith(prefix + "/") for f in failed):
                area.remove_tree(parts)
    progress.update(importer.done, importer.done)
    return {
        "folder_id": folder.id,
        "path": selectors.path_of(folder),
        "files": importer.files,
        "bytes": importer.done,
        "skipped": importer.skipped,
    }


def start_export(actor: Actor, nodes: list[Node], *, folder_name: str | None = None) -> Operation:
    """Queue copying ``nodes`` (readable by the actor) into a new folder of the staging area.

    Errors: NotFound (an element), Conflict (quota exceeded: checked against the bytes that
    will be written, and again while writing).
    """
    area = Area.of(actor)
    if not nodes:
        raise Invalid(ResourceError.EMPTY_SELECTION, "Pick at least one element.")
    for node in nodes:
        access.require(actor, Level.READ, node)
    name = clean_name(folder_name, what="folder name") if folder_name else None
    if name is not None and area.path([name]).exists():
        raise Conflict(TransferError.STAGING_INVALID, f"{name!r} already exists in /home.")
    total = sum(selectors.summary(actor, n).size for n in nodes)
    used = area.usage()
    if used + total > quota():
        raise Conflict(
            TransferError.QUOTA_EXCEEDED,
            f"quota exceeded: {total} bytes do not fit in your staging area "
            f"({used} of {quota()} bytes used).",
        )
    return _with_total(
        operations.enqueue(
            actor,
            "staging.export",
            {"sources": [n.id for n in nodes], "folder_name": name, "total": total},
        ),
        total,
    )


def _export_folder(area: Area, actor: Actor, name: str | None) -> str:
    if name is not None:
        area.mkdir([name])
        return name
    base = default_name("download", actor)
    for n in range(1, 100):
        candidate = base if n == 1 else f"{base}_{n}"
        try:
            area.mkdir([candidate])
        except Conflict:
            continue
        return candidate
    raise Conflict(TransferError.STAGING_INVALID, f"Too many folders named {base!r}.")


@operations.handler("staging.export")
def run_export(
    actor: Actor, params: dict[str, Any], progress: operations.Progress
) -> dict[str, Any]:
    area = Area.of(actor, audit=False)
    nodes = selectors.get_nodes(actor, params["sources"], Level.READ)
    progress.update(0, params.get("total", 0), "exporting")
    top = _export_folder(area, actor, params.get("folder_name"))
    done = 0
    count = 0
    used_names: set[str] = set()
    for node in nodes:
        name = _unique(node.name, used_names)
        for parts, element in selectors.walk(actor, node):
            target = [top, name, *parts[1:]]
            if element.kind != Kind.FILE:
                area.mkdir(target)
                continue
            download = files.open_download(actor, element)
            out = area.open(target, write=True, read=False, create=True, exclusive=True)
            try:
                offset = 0
                for chunk in blobstore.read_chunks(download.sha256):
                    out.write(offset, chunk)
                    offset += len(chunk)
                    done += len(chunk)
                    progress.update(done)
            finally:
                out.close()
            count += 1
    progress.update(done, done)
    return {"folder": top, "path": f"/home/{top}", "files": count, "bytes": done}


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name} ({n})"
    used.add(candidate)
    return candidate
