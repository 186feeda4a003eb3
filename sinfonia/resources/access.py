"""The permission pair: `can` for one object, `visible` for a queryset.

Everything that decides who may see or change a tree element goes through this module (REST,
portal, SFTP, DICOMweb, DIMSE and search alike). Rules
(docs/decisions/0001-tree-and-permissions.md):

- Site administrators may do anything.
- A node's access list is the one of its ``acl_root`` (nearest ancestor-or-self with its own).
- A user's level is the highest of their own entry and the entries of groups they belong to.
- ``public`` on the ACL root grants READ to every signed-in user.
- Anonymous actors have no access to the tree.
- Read-only actors (a read-only API key) never hold more than READ.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from sinfonia.core.context import Actor
from sinfonia.core.errors import NotFound, PermissionDenied
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import AccessEntry, Level, Node

M = TypeVar("M", bound=Model)


def _entries_for(actor: Actor) -> QuerySet[AccessEntry]:
    user = actor.user
    assert user is not None
    return AccessEntry.objects.filter(Q(user=user) | Q(group__memberships__user=user))


def level_of(actor: Actor, node: Node) -> Level | None:
    """The highest level ``actor`` holds on ``node``, or None for no access."""
    if actor.is_site_admin:
        return Level.ADMIN
    if not actor.is_authenticated:
        return None
    if node.acl_root_id is None:
        return None
    levels = _entries_for(actor).filter(node_id=node.acl_root_id).values_list("level", flat=True)
    best = max(levels, default=None)
    if best is not None:
        return Level(best)
    root_public = node.public if node.acl_root_id == node.id else _root_public(node)
    return Level.READ if root_public else None


def _root_public(node: Node) -> bool:
    if node.acl_root_id is None:
        return False
    return Node.objects.filter(pk=node.acl_root_id, public=True).exists()


def can(actor: Actor, level: Level, node: Node) -> bool:
    if level > Level.READ and actor.read_only:
        return False
    held = level_of(actor, node)
    return held is not None and held >= level


def require(actor: Actor, level: Level, node: Node) -> None:
    """Raise unless ``actor`` holds ``level`` on ``node``.

    Without read access the error is `NotFound`, the same as for a node that does not exist,
    so that names and ids of other people's data never leak.
    """
    held = level_of(actor, node)
    if held is None or node.in_trash:
        raise NotFound(ResourceError.NOT_FOUND, "No such element, or you may not see it.")
    if held < level:
        raise PermissionDenied(
            ResourceError.PERMISSION_DENIED,
            f"You need {Level(level).label} access to {node.name!r}; you have {held.label}.",
        )
    if level > Level.READ:
        actor.require_write()


def visible(actor: Actor, level: Level, qs: QuerySet[Node]) -> QuerySet[Node]:
    """Restrict ``qs`` to nodes on which ``actor`` holds at least ``level``, inside the query."""
    if level > Level.READ and actor.read_only:
        return qs.none()
    return qs.filter(condition(actor, level)) if not actor.is_site_admin else qs


def visible_via(actor: Actor, level: Level, qs: QuerySet[M], via: str) -> QuerySet[M]:
    """Restrict rows of another model to those whose node at ``via`` (a lookup path such as
    ``"file"``) ``actor`` may access; deleted nodes never count. For the DICOM index, search."""
    qs = qs.filter(**{f"{via}__in_trash": False})
    if level > Level.READ and actor.read_only:
        return qs.none()
    if actor.is_site_admin:
        return qs
    return qs.filter(condition(actor, level, prefix=f"{via}__"))


def condition(actor: Actor, level: Level, *, prefix: str = "") -> Q:
    """The access rule as a query condition on a node (at ``prefix``)."""
    if level > Level.READ and actor.read_only:
        return Q(pk__in=[])
    if actor.is_site_admin:
        return Q()
    if not actor.is_authenticated:
        return Q(pk__in=[])
    roots = _entries_for(actor).filter(level__gte=level).values("node_id")
    allowed = Q(**{f"{prefix}acl_root_id__in": roots})
    if level <= Level.READ:
        # ``public`` is only ever set on ACL roots (set_acl keeps it so).
        public = Node.objects.filter(public=True).values("id")
        allowed |= Q(**{f"{prefix}acl_root_id__in": public})
    return allowed
