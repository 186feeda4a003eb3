"""Access lists of collections and folders."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from sinfonia.accounts.models import Group, User
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import CONTAINERS, AccessEntry, Kind, Level, Node
from sinfonia.resources.selectors import path_of


@dataclass(frozen=True, slots=True)
class Grant:
    """One wanted line of an access list: exactly one of ``user``/``group``."""

    level: Level
    user: User | None = None
    group: Group | None = None


@dataclass(frozen=True, slots=True)
class AclView:
    node: Node
    source: Node  # where the list is defined (the node itself unless inherited)
    inherited: bool
    public: bool
    entries: list[AccessEntry]


def get_acl(actor: Actor, node: Node) -> AclView:
    """The access list in force on ``node`` and where it comes from. Needs admin access."""
    access.require(actor, Level.ADMIN, node)
    source = node if node.has_own_acl else Node.objects.get(pk=node.acl_root_id or node.pk)
    entries = list(
        AccessEntry.objects.filter(node=source)
        .select_related("user", "group")
        .order_by("-level", "user__username", "group__name")
    )
    return AclView(
        node=node,
        source=source,
        inherited=not node.has_own_acl,
        public=source.public,
        entries=entries,
    )


@transaction.atomic
def set_acl(
    actor: Actor,
    node: Node,
    grants: list[Grant] | None,
    *,
    public: bool = False,
) -> AclView:
    """Give ``node`` its own access list (``grants`` and ``public``), or, with ``grants=None``,
    make it inherit its parent's again. Only collections and folders carry access lists.

    A non-administrator may not remove their own admin access (they would lock themselves
    out). Errors: Invalid (kind, duplicates, lock-out), NotFound/PermissionDenied.
    """
    access.require(actor, Level.ADMIN, node)
    if node.kind not in CONTAINERS:
        raise Invalid(
            ResourceError.ACL_NOT_HERE,
            f"Permissions are set on collections and folders; {node.name!r} is a "
            f"{node.kind_name} and follows its folder.",
        )
    if grants is None:
        _inherit(actor, node)
    else:
        _own(actor, node, grants, public)
    return get_acl(actor, node)


def _inherit(actor: Actor, node: Node) -> None:
    if node.kind == Kind.COLLECTION or node.parent is None:
        raise Invalid(ResourceError.INVALID_ACL, "A collection has no parent to inherit from.")
    if not node.has_own_acl:
        return
    parent_root = node.parent.acl_root_id
    if not actor.is_site_admin and not _holds_admin_via(actor, parent_root):
        raise Invalid(
            ResourceError.INVALID_ACL,
            "Inheriting would remove your admin access to this folder; ask an administrator.",
        )
    AccessEntry.objects.filter(node=node).delete()
    Node.objects.filter(ancestry__startswith=node.subtree_prefix, acl_root_id=node.id).update(
        acl_root_id=parent_root
    )
    Node.objects.filter(pk=node.pk).update(acl_root_id=parent_root, public=False)
    node.acl_root_id, node.public = parent_root, False
    record(actor, "acl.inherit", node, path=path_of(node))


def _holds_admin_via(actor: Actor, root_id: int | None) -> bool:
    probe = Node(id=-1, acl_root_id=root_id, public=False)
    return access.level_of(actor, probe) == Level.ADMIN


def _own(actor: Actor, node: Node, grants: list[Grant], public: bool) -> None:
    users: set[int] = set()
    groups: set[int] = set()
    for g in grants:
        if (g.user is None) == (g.group is None):
            raise Invalid(ResourceError.INVALID_ACL, "Each entry names a user or a group.")
        if g.user is not None:
            if g.user.pk in users:
                raise Invalid(ResourceError.INVALID_ACL, f"User {g.user.username} listed twice.")
            users.add(g.user.pk)
        elif g.group is not None:
            if g.group.pk in groups:
                raise Invalid(ResourceError.INVALID_ACL, f"Group {g.group.name} listed twice.")
            groups.add(g.group.pk)
    if not actor.is_site_admin and actor.user is not None:
        from sinfonia.accounts.models import Membership

        mine = set(Membership.objects.filter(user=actor.user).values_list("group_id", flat=True))
        keeps_admin = any(
            g.level >= Level.ADMIN
            and (
                (g.user is not None and g.user.pk == actor.user.pk)
                or (g.group and g.group.pk in mine)
            )
            for g in grants
        )
        if not keeps_admin:
            raise Invalid(
                ResourceError.INVALID_ACL,
                "These permissions would remove your own admin access; keep yourself as admin.",
            )
    if not node.has_own_acl:
        old_root = node.acl_root_id
        Node.objects.filter(ancestry__startswith=node.subtree_prefix, acl_root_id=old_root).update(
            acl_root_id=node.id
        )
        node.acl_root_id = node.id
    node.public = public
    Node.objects.filter(pk=node.pk).update(acl_root_id=node.id, public=public)
    AccessEntry.objects.filter(node=node).delete()
    AccessEntry.objects.bulk_create(
        AccessEntry(node=node, user=g.user, group=g.group, level=g.level) for g in grants
    )
    record(
        actor,
        "acl.set",
        node,
        path=path_of(node),
        public=public,
        entries=[
            {"user": g.user.username} if g.user else {"group": g.group.name if g.group else ""}
            for g in grants
        ],
    )
