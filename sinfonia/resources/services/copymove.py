"""Copying and moving selections of elements.

Placement rules (reference report §5.3.2):

=================  ====================  ===================================
element            into collection/folder  into fileset
=================  ====================  ===================================
folder             yes                    refused (filesets hold files only)
fileset            yes                    refused
file               a new fileset named    yes
                   after the file holds it
collection         refused (top level)    refused
=================  ====================  ===================================

Copies never copy bytes: a copied file references the same blob. Copies take the access list
of their destination (own ACLs of copied folders are not carried over).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat, Substr

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid
from sinfonia.dicom.services.ingest import copy_index
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import CONTAINERS, Kind, Level, Node
from sinfonia.resources.selectors import path_of
from sinfonia.resources.services.common import ensure_names_free, new_node
from sinfonia.storage.services import add_references

COPY_FIELDS = (
    "description",
    "sinfonia_id",
    "sinfonia_id_parts",
    "meta",
    "blob_id",
    "size",
    "mime_type",
)


def _needs_wrapper(src: Node, dest: Node) -> bool:
    """True when ``src`` (a file) needs a new fileset to live in ``dest``; raise if refused."""
    if src.kind == Kind.COLLECTION:
        raise Invalid(
            ResourceError.COLLECTION_FIXED,
            f"{src.name!r} is a collection; collections cannot be moved or copied "
            "(pick their contents instead).",
        )
    if dest.kind in CONTAINERS:
        return src.kind == Kind.FILE
    if dest.kind == Kind.FILESET:
        if src.kind == Kind.FILE:
            return False
        raise Invalid(
            ResourceError.WRONG_DESTINATION,
            f"A fileset holds files only; the {src.kind_name} {src.name!r} cannot go into "
            f"{dest.name!r}.",
        )
    raise Invalid(
        ResourceError.WRONG_DESTINATION, f"{dest.name!r} is a file; nothing can go into it."
    )


def _check_selection(actor: Actor, sources: list[Node], dest: Node, *, moving: bool) -> list[Node]:
    access.require(actor, Level.WRITE, dest)
    if not sources:
        raise Invalid(ResourceError.EMPTY_SELECTION, "Pick at least one element.")
    staying = []
    for src in sources:
        access.require(actor, Level.WRITE if moving else Level.READ, src)
        _needs_wrapper(src, dest)
        if src.id == dest.id or dest.ancestry.startswith(src.subtree_prefix):
            raise Conflict(
                ResourceError.CYCLE,
                f"{src.name!r} cannot be {'moved' if moving else 'copied'} into itself or into "
                "one of its own sub-folders.",
            )
        if moving:
            if src.parent is not None:
                access.require(actor, Level.WRITE, src.parent)
            if src.parent_id == dest.id:
                continue  # already there: nothing to do
        staying.append(src)
    ensure_names_free(dest, [s.name for s in staying])
    return staying


@transaction.atomic
def move_nodes(actor: Actor, sources: list[Node], dest: Node) -> list[Node]:
    """Move ``sources`` into ``dest``. All or nothing: any refused element refuses the lot.

    Needs write access on each element, on its current parent and on ``dest``.
    Errors: Invalid (placement), Conflict (name taken, cycle), NotFound/PermissionDenied.
    """
    moved = []
    moved_ids: set[int] = set()
    for src in _check_selection(actor, sources, dest, moving=True):
        if moved_ids.intersection(src.ancestor_ids):
            # An ancestor picked earlier in the selection has just moved it along.
            src.refresh_from_db(fields=["ancestry", "acl_root"])
        moved_ids.add(src.id)
        target = dest
        if _needs_wrapper(src, dest):
            target = _wrapper_fileset(actor, src, dest)
        old_path = path_of(src)
        _relocate(src, target)
        record(actor, f"{src.kind_name}.move", src, path=path_of(src), moved_from=old_path)
        moved.append(src)
    return moved


def _relocate(node: Node, target: Node) -> None:
    old_prefix = node.subtree_prefix
    node.parent = target
    node.ancestry = target.subtree_prefix
    new_prefix = node.subtree_prefix
    inherited_from = None if node.has_own_acl else node.acl_root_id
    if inherited_from is not None:
        node.acl_root_id = target.acl_root_id
    node.save(update_fields=["parent", "ancestry", "acl_root", "updated_at"])
    if old_prefix != new_prefix:
        Node.objects.filter(ancestry__startswith=old_prefix).update(
            ancestry=Concat(Value(new_prefix), Substr("ancestry", len(old_prefix) + 1))
        )
    if inherited_from is not None and inherited_from != target.acl_root_id:
        # Descendants that inherited through the moved node now inherit from the new place.
        Node.objects.filter(ancestry__startswith=new_prefix, acl_root_id=inherited_from).update(
            acl_root_id=target.acl_root_id
        )


def _wrapper_fileset(actor: Actor, file: Node, dest: Node) -> Node:
    fileset = new_node(
        kind=Kind.FILESET,
        parent=dest,
        name=file.name,
        acl_root_id=dest.acl_root_id,
        creator=actor.user,
        sinfonia_id=file.sinfonia_id,
        sinfonia_id_parts=file.sinfonia_id_parts,
    )
    fileset.save()
    return fileset


@transaction.atomic
def copy_nodes(
    actor: Actor,
    sources: list[Node],
    dest: Node,
    *,
    progress: Callable[[int], object] | None = None,
) -> list[Node]:
    """Copy ``sources`` (with their subtrees) into ``dest``; return the new top elements.

    Needs read access on the sources and write access on ``dest``; parts of a subtree the
    actor may not read are left out. No bytes are copied. ``progress`` is called with the
    number of elements copied so far (background copies report it).
    """
    copies = []
    copied = 0
    for src in _check_selection(actor, sources, dest, moving=False):
        target = _wrapper_fileset(actor, src, dest) if _needs_wrapper(src, dest) else dest
        top, count = _copy_subtree(actor, src, target)
        copied += count
        if progress is not None:
            progress(copied)
        record(
            actor,
            f"{src.kind_name}.copy",
            top,
            path=path_of(top),
            copied_from=path_of(src),
            elements=count,
        )
        copies.append(top)
    return copies


def _clone(actor: Actor, src: Node, parent: Node, acl_root_id: int | None) -> Node:
    return new_node(
        kind=Kind(src.kind),
        parent=parent,
        name=src.name,
        acl_root_id=acl_root_id,
        creator=actor.user,
        **{f: getattr(src, f) for f in COPY_FIELDS},
    )


def _copy_subtree(actor: Actor, src: Node, target: Node) -> tuple[Node, int]:
    acl_root_id = target.acl_root_id
    top = _clone(actor, src, target, acl_root_id)
    top.save()
    blobs = [src.blob_id] if src.blob_id else []
    by_depth: dict[int, list[Node]] = defaultdict(list)
    if src.kind != Kind.FILE:
        below = access.visible(
            actor,
            Level.READ,
            Node.objects.filter(ancestry__startswith=src.subtree_prefix, in_trash=False),
        ).only("id", "parent_id", "kind", "name", "ancestry", *COPY_FIELDS)
        for node in below.iterator(chunk_size=2000):
            by_depth[node.ancestry.count("/")].append(node)
    mapping = {src.id: top}
    copied_files = [(src.id, top.id)] if src.kind == Kind.FILE else []
    count = 1
    for depth in sorted(by_depth):
        clones = []
        originals = []
        for node in by_depth[depth]:
            parent_copy = mapping.get(node.parent_id or 0)
            if parent_copy is None:
                continue  # its parent was not readable, so neither is this branch copied
            clones.append(_clone(actor, node, parent_copy, acl_root_id))
            originals.append(node)
        Node.objects.bulk_create(clones, batch_size=500)
        for original, clone in zip(originals, clones, strict=True):
            mapping[original.id] = clone
            if original.blob_id:
                blobs.append(original.blob_id)
                copied_files.append((original.id, clone.id))
        count += len(clones)
    add_references(blobs)
    copy_index(copied_files)
    return top, count
