"""The per-user recycle bin: delete (to the bin), restore to the original place, purge."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from sinfonia.core.names import clean_name
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Kind, Level, Node, TrashItem
from sinfonia.resources.selectors import path_of
from sinfonia.resources.services.common import clash_as_conflict, ensure_names_free
from sinfonia.storage.services import drop_references


def _subtree(node: Node) -> QuerySet[Node]:
    return Node.objects.filter(Q(pk=node.pk) | Q(ancestry__startswith=node.subtree_prefix))


@transaction.atomic
def trash_nodes(actor: Actor, nodes: list[Node]) -> list[TrashItem]:
    """Move each element (with its subtree) to ``actor``'s recycle bin.

    Needs write access on the element and its parent (admin for a collection). Personal
    folders cannot be deleted. Nothing is removed until the bin is purged.
    """
    if actor.user is None:
        raise Invalid(ResourceError.PERMISSION_DENIED, "Deleting needs a user's recycle bin.")
    if not nodes:
        raise Invalid(ResourceError.EMPTY_SELECTION, "Pick at least one element.")
    items = []
    picked = {node.id for node in nodes}
    for node in nodes:
        node.refresh_from_db()
        if picked.intersection(node.ancestor_ids):
            continue  # goes to the bin with its ancestor, also picked
        if node.kind == Kind.COLLECTION:
            access.require(actor, Level.ADMIN, node)
            if node.home_of_id is not None:
                raise Invalid(
                    ResourceError.PERMISSION_DENIED, "A personal folder cannot be deleted."
                )
        else:
            access.require(actor, Level.WRITE, node)
            assert node.parent is not None
            access.require(actor, Level.WRITE, node.parent)
        _require_whole_subtree_writable(actor, node)
        path = path_of(node)
        _subtree(node).update(in_trash=True)
        node.in_trash = True
        items.append(TrashItem.objects.create(node=node, owner=actor.user, original_path=path))
        record(actor, f"{node.kind_name}.trash", node, path=path)
    return items


def _require_whole_subtree_writable(actor: Actor, node: Node) -> None:
    """Deleting takes everything below; refuse if some of it is not the actor's to change
    (a sub-folder with its own, closed permissions), rather than deleting it unseen."""
    if actor.is_site_admin or node.kind == Kind.FILE:
        return
    below = Node.objects.filter(ancestry__startswith=node.subtree_prefix, in_trash=False)
    if below.count() != access.visible(actor, Level.WRITE, below).count():
        raise PermissionDenied(
            ResourceError.PERMISSION_DENIED,
            f"{node.name!r} contains elements you may not change; it was not deleted.",
        )


def _require_may_remove(actor: Actor, node: Node) -> None:
    """Restoring or purging needs, at that time, the access that deleting needed."""
    if actor.is_site_admin:
        return
    if node.parent_id is None:
        held = access.level_of(actor, node)
        needed = Level.ADMIN
    else:
        assert node.parent is not None
        held = access.level_of(actor, node.parent)
        needed = Level.WRITE
    if held is None or held < needed:
        raise PermissionDenied(
            ResourceError.PERMISSION_DENIED,
            f"You no longer have {needed.label} access where {node.name!r} was; "
            "ask the owner of that place.",
        )


def bin_of(actor: Actor) -> QuerySet[TrashItem]:
    """The actor's recycle bin, newest first."""
    if actor.user is None:
        return TrashItem.objects.none()
    return TrashItem.objects.filter(owner=actor.user).select_related("node")


def _item(actor: Actor, item_id: int) -> TrashItem:
    qs = TrashItem.objects.select_related("node")
    if not actor.is_site_admin:
        qs = qs.filter(owner=actor.user)
    item = qs.filter(pk=item_id).first()
    if item is None:
        raise NotFound(ResourceError.TRASH_NOT_FOUND, "No such element in your recycle bin.")
    return item


@transaction.atomic
def restore(actor: Actor, item_id: int, *, new_name: str | None = None) -> Node:
    """Put a deleted element back where it was (optionally under a new name).

    Errors: Conflict when the original place is itself deleted or the name is taken there,
    NotFound/PermissionDenied when the actor may no longer write the original place.
    """
    item = _item(actor, item_id)
    node = item.node
    parent = node.parent
    if new_name is not None:
        node.name = clean_name(new_name)
    if parent is not None:
        if parent.in_trash:
            raise Conflict(
                ResourceError.ORIGINAL_PLACE_GONE,
                f"The original place of {node.name!r} is itself in a recycle bin; "
                "restore that first.",
            )
        access.require(actor, Level.WRITE, parent)
        ensure_names_free(parent, [node.name])
    else:
        _require_may_remove(actor, node)
    if (
        parent is None
        and Node.objects.filter(parent__isnull=True, in_trash=False, name=node.name).exists()
    ):
        raise Conflict(ResourceError.NAME_TAKEN, f"A collection named {node.name!r} exists.")
    subtree = _subtree(node)
    # Elements deleted separately before their ancestor stay in their own owner's bin.
    for nested in TrashItem.objects.filter(node__ancestry__startswith=node.subtree_prefix):
        subtree = subtree.exclude(
            Q(pk=nested.node_id) | Q(ancestry__startswith=f"{nested.node.subtree_prefix}")
        )
    with clash_as_conflict(node.name):
        # The node first, under its new name: the old one may be taken again.
        node.in_trash = False
        node.save(update_fields=["name", "sort_name", "in_trash", "updated_at"])
        subtree.update(in_trash=False)
    item.delete()
    record(actor, f"{node.kind_name}.restore", node, path=path_of(node))
    return node


@transaction.atomic
def purge(actor: Actor, item_id: int) -> None:
    """Delete an element from the bin for good; blobs no longer referenced are collected."""
    item = _item(actor, item_id)
    _require_may_remove(actor, item.node)
    _purge_item(actor, item)


def _purge_item(actor: Actor, item: TrashItem) -> None:
    node = item.node
    subtree = _subtree(node)
    blobs = list(subtree.filter(kind=Kind.FILE).values_list("blob_id", flat=True))
    count = subtree.count()
    path = item.original_path
    subtree.delete()
    drop_references(b for b in blobs if b)
    record(actor, "trash.purge", None, path=path, elements=count)


def purge_all(actor: Actor) -> int:
    count = 0
    for item in list(bin_of(actor)):
        with transaction.atomic():
            _purge_item(actor, item)
        count += 1
    return count


def purge_expired(actor: Actor, *, now: datetime | None = None) -> int:
    """Purge every bin's elements older than the retention period (site administrators)."""
    if not actor.is_site_admin:
        raise PermissionDenied(
            ResourceError.PERMISSION_DENIED, "Only site administrators purge all bins."
        )
    cutoff = (now or timezone.now()) - timedelta(days=settings.SINFONIA_TRASH_RETENTION_DAYS)
    count = 0
    for item in list(TrashItem.objects.filter(trashed_at__lt=cutoff).select_related("node")):
        with transaction.atomic():
            _purge_item(actor, item)
        count += 1
    return count
