"""`sinfonia import` and `sinfonia export`: local directory trees in and out of the repository.

Mapping (the same as Girder's filesystem import, and the portal's "one fileset per file"):
directories are folders, each file becomes a fileset of the same name holding it. On export a
fileset holding exactly one file of its own name becomes that file again; other filesets
become directories.

Import is resumable: a file whose fileset already holds a file of the same name and SHA-256 is
skipped, so running the same import again after an interruption finishes the job.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Never

from tqdm import tqdm

from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound, ServiceError
from sinfonia.core.names import clean_name
from sinfonia.resources import identifiers, selectors
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Kind, Node
from sinfonia.resources.services import files, tree
from sinfonia.storage import blobstore


@dataclass
class Report:
    verb: str
    done: int = 0
    bytes: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.verb} {self.done} file(s), {self.bytes} bytes; "
            f"skipped {self.skipped} already present; {len(self.failed)} failed"
        )


def _child(parent: Node, name: str) -> Node | None:
    return Node.objects.filter(parent=parent, name=name, in_trash=False).first()


def _ensure_folder(
    actor: Actor, parent: Node, name: str, pid: identifiers.ProjectId | None
) -> Node:
    existing = _child(parent, clean_name(name))
    if existing is not None:
        if existing.kind not in (Kind.FOLDER, Kind.COLLECTION):
            raise Invalid(
                ResourceError.NAME_TAKEN,
                f"{selectors.path_of(existing)} is a {existing.kind_name}, not a folder.",
            )
        return existing
    return tree.create_folder(actor, parent, name, sinfonia_id=pid)


def _destination(actor: Actor, path: str) -> Node:
    """The folder at ``path``, creating missing folders below an existing collection."""
    parts = selectors.split_path(path)
    node = selectors.lookup(actor, "/" + parts[0])
    for part in parts[1:]:
        node = _ensure_folder(actor, node, part, None)
    selectors.get_node(actor, node.id)
    return node


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(blobstore.CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _shown(path: Path) -> str:
    """``path`` for messages, printable anywhere: bytes that are not UTF-8 appear as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        yield Path(dirpath), dirnames, sorted(filenames)


def import_tree(
    actor: Actor,
    source: str,
    destination: str,
    *,
    sinfonia_id: str | None = None,
    progress: bool = True,
) -> Report:
    root = Path(source)
    if not root.is_dir():
        raise NotFound(ResourceError.INVALID_PATH, f"{source} is not a directory.")
    pid = identifiers.parse(sinfonia_id) if sinfonia_id else None
    dest = _destination(actor, destination)
    total = sum(
        (d / f).lstat().st_size
        for d, _, fs in _walk(root)
        for f in fs
        if (d / f).is_file() and not (d / f).is_symlink()  # as counted below
    )
    report = Report(verb="imported")
    folders: dict[Path, Node] = {root: dest}
    with tqdm(total=total, unit="B", unit_scale=True, disable=not progress, desc="import") as bar:
        for dirpath, dirnames, filenames in _walk(root):
            parent = folders.get(dirpath)
            if parent is None:
                dirnames.clear()  # its folder failed: skip the branch (reported already)
                continue
            for name in dirnames:
                local = dirpath / name
                try:
                    if local.is_symlink():
                        raise Invalid(ResourceError.INVALID_PATH, "symbolic links are not followed")
                    folders[local] = _ensure_folder(actor, parent, name, pid)
                except ServiceError as exc:
                    report.failed.append((_shown(local), exc.message))
            for name in filenames:
                local = dirpath / name
                try:
                    _import_file(actor, parent, local, name, pid, report)
                except ServiceError as exc:
                    report.failed.append((_shown(local), exc.message))
                except OSError as exc:
                    report.failed.append((_shown(local), exc.strerror or str(exc)))
                if local.is_file() and not local.is_symlink():
                    bar.update(local.lstat().st_size)
    return report


def _import_file(
    actor: Actor,
    parent: Node,
    local: Path,
    name: str,
    pid: identifiers.ProjectId | None,
    report: Report,
) -> None:
    if local.is_symlink() or not local.is_file():
        raise Invalid(ResourceError.INVALID_PATH, "not a regular file (links are not followed)")
    name = clean_name(name, what="file name")
    existing = _child(parent, name)
    if existing is not None:
        present = _child(existing, name) if existing.kind == Kind.FILESET else None
        if present is not None and present.kind == Kind.FILE:
            if present.size == local.stat().st_size and present.blob_id == _sha256(local):
                report.skipped += 1
                return
            raise Invalid(
                ResourceError.NAME_TAKEN,
                f"{selectors.path_of(present)} exists with different content; not replaced.",
            )
        if existing.kind == Kind.FILESET and not _has_files(existing):
            _upload(actor, existing, local, name, pid, report)  # resumed after a crash
            return
        raise Invalid(
            ResourceError.NAME_TAKEN, f"{selectors.path_of(existing)} exists; not replaced."
        )
    _upload(actor, parent, local, name, pid, report)


def _has_files(fileset: Node) -> bool:
    return Node.objects.filter(parent=fileset, in_trash=False).exists()


def _upload(
    actor: Actor,
    parent: Node,
    local: Path,
    name: str,
    pid: identifiers.ProjectId | None,
    report: Report,
) -> None:
    with open(local, "rb") as fh:
        node = files.upload_file(actor, parent, name, fh, sinfonia_id=pid)
    report.done += 1
    report.bytes += node.size


def export_tree(actor: Actor, source: str, destination: str, *, progress: bool = True) -> Report:
    node = selectors.lookup(actor, source)
    out = Path(destination)
    out.mkdir(parents=True, exist_ok=True)
    total = selectors.summary(actor, node).size
    report = Report(verb="exported")
    with tqdm(total=total, unit="B", unit_scale=True, disable=not progress, desc="export") as bar:
        for parts, element in selectors.walk(actor, node):
            target = out.joinpath(*parts)
            if element.kind == Kind.FILE:
                _export_file(actor, element, target, report, bar)
            else:
                target.mkdir(exist_ok=True)
    return report


def _export_file(actor: Actor, node: Node, target: Path, report: Report, bar: tqdm[Never]) -> None:
    try:
        if (
            target.exists()
            and target.stat().st_size == node.size
            and _sha256(target) == node.blob_id
        ):
            report.skipped += 1
            bar.update(node.size)
            return
        download = files.open_download(actor, node)
        tmp = target.with_name(f".sinfonia-export-{os.getpid()}.part")  # short: names may be long
        with open(tmp, "wb") as fh:
            for chunk in blobstore.read_chunks(download.sha256):
                fh.write(chunk)
                bar.update(len(chunk))
        os.replace(tmp, target)
        report.done += 1
        report.bytes += node.size
    except ServiceError as exc:
        report.failed.append((str(target), exc.message))
    except OSError as exc:
        report.failed.append((str(target), exc.strerror or str(exc)))
