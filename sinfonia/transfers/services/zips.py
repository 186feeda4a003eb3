"""ZIP files kept in the repository: their table of contents, and extraction into folders.

Extraction refuses, member by member, what could hurt the server or escape the destination,
and reports each refusal: absolute paths and ``..`` (path traversal), symbolic links, encrypted
members, names that are not valid element names, and zip bombs (a member whose expansion ratio
exceeds ``SINFONIA_ZIP_MAX_RATIO``). An archive whose declared total exceeds
``SINFONIA_ZIP_MAX_TOTAL`` bytes or ``SINFONIA_ZIP_MAX_MEMBERS`` members is refused whole.
Bytes read per member never exceed the size its header declares (zipfile enforces it, and the
CRC is checked), so a lying header cannot inflate past the limits.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, ServiceError
from sinfonia.core.names import clean_name
from sinfonia.resources import access, selectors
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import CONTAINERS, Kind, Level, Node
from sinfonia.resources.services import files, tree
from sinfonia.resources.services.common import ensure_names_free
from sinfonia.storage import blobstore
from sinfonia.transfers.errors import TransferError
from sinfonia.transfers.models import Operation
from sinfonia.transfers.services import operations


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    size: int
    compressed_size: int
    is_dir: bool
    encrypted: bool
    symlink: bool
    modified: datetime | None


def _open(node: Node) -> zipfile.ZipFile:
    if node.kind != Kind.FILE or node.blob_id is None:
        raise Invalid(ResourceError.NOT_A_FILE, f"{node.name!r} is not a file.")
    try:
        return zipfile.ZipFile(blobstore.blob_path(node.blob_id))
    except (zipfile.BadZipFile, OSError) as exc:
        raise Invalid(
            TransferError.BAD_METADATA, f"{node.name!r} is not a readable ZIP archive ({exc})."
        ) from exc


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _modified(info: zipfile.ZipInfo) -> datetime | None:
    try:
        return datetime(*info.date_time)
    except ValueError:
        return None


def table_of_contents(actor: Actor, node: Node) -> list[Entry]:
    """The members of a ZIP file, read from its central directory (nothing is extracted)."""
    access.require(actor, Level.READ, node)
    with _open(node) as archive:
        entries = [
            Entry(
                name=info.filename,
                size=info.file_size,
                compressed_size=info.compress_size,
                is_dir=info.is_dir(),
                encrypted=bool(info.flag_bits & 0x1),
                symlink=_is_symlink(info),
                modified=_modified(info),
            )
            for info in archive.infolist()
        ]
    record(actor, "zip.contents", node, path=selectors.path_of(node), members=len(entries))
    return entries


def _member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The member's path as validated element names, or raise saying why it is refused."""
    raw = info.filename.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise Invalid(ResourceError.INVALID_PATH, "absolute path")
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if ".." in parts:
        raise Invalid(ResourceError.INVALID_PATH, "path traversal ('..')")
    if not parts:
        raise Invalid(ResourceError.INVALID_PATH, "empty name")
    return tuple(clean_name(p) for p in parts)


def check_extraction(actor: Actor, node: Node, destination: Node, folder_name: str | None) -> str:
    """Validate an extraction request before it is queued; return the new folder's name."""
    access.require(actor, Level.READ, node)
    access.require(actor, Level.WRITE, destination)
    if destination.kind not in CONTAINERS:
        raise Invalid(ResourceError.NOT_A_CONTAINER, "Extract into a collection or folder.")
    name = clean_name(folder_name or node.name.rsplit(".", 1)[0] or node.name)
    ensure_names_free(destination, [name])
    with _open(node) as archive:
        infos = archive.infolist()
    if len(infos) > settings.SINFONIA_ZIP_MAX_MEMBERS:
        raise Invalid(
            TransferError.TOO_LARGE,
            f"The archive has {len(infos)} members; at most "
            f"{settings.SINFONIA_ZIP_MAX_MEMBERS} are extracted.",
        )
    total = sum(i.file_size for i in infos)
    if total > settings.SINFONIA_ZIP_MAX_TOTAL:
        raise Invalid(
            TransferError.TOO_LARGE,
            f"The archive would expand to {total} bytes; the limit is "
            f"{settings.SINFONIA_ZIP_MAX_TOTAL}.",
        )
    return name


def start_extraction(
    actor: Actor, node: Node, destination: Node, folder_name: str | None = None
) -> Operation:
    """Queue the extraction of a ZIP file into a new folder of ``destination``."""
    name = check_extraction(actor, node, destination, folder_name)
    return operations.enqueue(
        actor,
        "zip.extract",
        {"zip_id": node.id, "destination_id": destination.id, "folder_name": name},
    )


def _refusal(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted member"
    if _is_symlink(info):
        return "symbolic link"
    ratio_limit = settings.SINFONIA_ZIP_MAX_RATIO
    if info.file_size > 1024 * 1024 and info.file_size > ratio_limit * max(info.compress_size, 1):
        return (
            f"compression ratio {info.file_size // max(info.compress_size, 1)}:1 exceeds "
            f"{ratio_limit}:1 (zip bomb?)"
        )
    return None


@operations.handler("zip.extract")
def extract(actor: Actor, params: dict[str, Any], progress: operations.Progress) -> dict[str, Any]:
    node = selectors.get_node(actor, params["zip_id"])
    destination = selectors.get_node(actor, params["destination_id"], Level.WRITE)
    name = check_extraction(actor, node, destination, params["folder_name"])
    skipped: list[dict[str, str]] = []
    extracted = 0
    with _open(node) as archive:
        infos = archive.infolist()
        planned: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        for info in infos:
            reason = _refusal(info)
            parts: tuple[str, ...] = ()
            if reason is None:
                try:
                    parts = _member_parts(info)
                except ServiceError as exc:
                    reason = exc.message
            if reason is not None:
                skipped.append({"name": info.filename, "reason": reason})
            elif not info.is_dir():
                planned.append((info, parts))
        total = sum(i.file_size for i, _ in planned)
        progress.update(0, total, f"extracting {len(planned)} files")
        root = tree.create_folder(actor, destination, name)
        folders: dict[tuple[str, ...], Node] = {(): root}
        done = 0
        for info, parts in planned:
            try:
                parent = _folder_for(actor, folders, parts[:-1])
                with archive.open(info) as member:
                    files.upload_file(actor, parent, parts[-1], member)  # type: ignore[arg-type]
                extracted += 1
            except (ServiceError, zipfile.BadZipFile, OSError) as exc:
                reason = exc.message if isinstance(exc, ServiceError) else str(exc)
                skipped.append({"name": info.filename, "reason": reason})
            done += info.file_size
            progress.update(done, total, info.filename)
    record(
        actor,
        "zip.extract",
        root,
        path=selectors.path_of(root),
        source=selectors.path_of(node),
        files=extracted,
        skipped=len(skipped),
    )
    return {"folder_id": root.id, "files": extracted, "skipped": skipped}


def _folder_for(actor: Actor, folders: dict[tuple[str, ...], Node], parts: tuple[str, ...]) -> Node:
    for depth in range(1, len(parts) + 1):
        key = parts[:depth]
        if key not in folders:
            parent = folders[key[:-1]]
            existing = Node.objects.filter(parent=parent, name=key[-1], in_trash=False).first()
            if existing is not None and existing.kind != Kind.FOLDER:
                raise Conflict(ResourceError.NAME_TAKEN, f"{key[-1]!r} exists and is no folder.")
            folders[key] = existing or tree.create_folder(actor, parent, key[-1])
    return folders[parts]
