from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q, QuerySet

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import Group, Membership, Role, User
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from sinfonia.core.names import clean_name

log = logging.getLogger(__name__)


def _signed_in(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise Unauthenticated(AccountError.LOGIN_REQUIRED, "Sign in first.")


def visible_groups(actor: Actor) -> QuerySet[Group]:
    """Public groups and the actor's own; site administrators see all."""
    _signed_in(actor)
    if actor.is_site_admin:
        return Group.objects.all()
    return Group.objects.filter(Q(public=True) | Q(memberships__user=actor.user)).distinct()


def get_group(actor: Actor, group_id: int) -> Group:
    group = visible_groups(actor).filter(pk=group_id).first()
    if group is None:
        raise NotFound(AccountError.GROUP_NOT_FOUND, "No such group, or it is private.")
    return group


def find_group(actor: Actor, name: str) -> Group:
    group = visible_groups(actor).filter(name=name).first()
    if group is None:
        raise NotFound(AccountError.GROUP_NOT_FOUND, f"No group named {name!r} that you may see.")
    return group


def role_of(actor: Actor, group: Group) -> Role | None:
    if actor.user is None:
        return None
    role = (
        Membership.objects.filter(group=group, user=actor.user)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def _require_group_admin(actor: Actor, group: Group) -> None:
    if actor.is_site_admin or role_of(actor, group) == Role.ADMIN:
        return
    raise PermissionDenied(
        AccountError.NOT_GROUP_ADMIN, f"Only administrators of {group.name!r} may do that."
    )


@transaction.atomic
def create_group(actor: Actor, name: str, *, description: str = "", public: bool = True) -> Group:
    """Create a group; its creator becomes its administrator."""
    actor.require_write()
    _signed_in(actor)
    name = clean_name(name, what="group name")
    if Group.objects.filter(name__iexact=name).exists():
        raise Conflict(AccountError.GROUP_NAME_TAKEN, f"A group named {name!r} exists.")
    group = Group.objects.create(
        name=name, description=description, public=public, creator=actor.user
    )
    if actor.user is not None:
        Membership.objects.create(group=group, user=actor.user, role=Role.ADMIN)
    record(actor, "group.create", None, target=name)
    return group


@transaction.atomic
def update_group(
    actor: Actor,
    group: Group,
    *,
    name: str | None = None,
    description: str | None = None,
    public: bool | None = None,
) -> Group:
    actor.require_write()
    _require_group_admin(actor, group)
    if name is not None:
        name = clean_name(name, what="group name")
        if Group.objects.filter(name__iexact=name).exclude(pk=group.pk).exists():
            raise Conflict(AccountError.GROUP_NAME_TAKEN, f"A group named {name!r} exists.")
        group.name = name
    if description is not None:
        group.description = description
    if public is not None:
        group.public = public
    group.save()
    record(actor, "group.update", None, target=group.name)
    return group


@transaction.atomic
def delete_group(actor: Actor, group: Group) -> None:
    """Delete a group; the permissions it granted go with it."""
    actor.require_write()
    _require_group_admin(actor, group)
    name = group.name
    group.delete()
    record(actor, "group.delete", None, target=name)


@transaction.atomic
def set_member(actor: Actor, group: Group, user: User, role: Role = Role.MEMBER) -> Membership:
    """Add ``user`` to ``group`` or change their role. Group administrators only."""
    actor.require_write()
    _require_group_admin(actor, group)
    role = Role(role)
    membership, created = Membership.objects.get_or_create(
        group=group, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        if membership.role == Role.ADMIN:
            _keep_an_admin(group, user)
        membership.role = role
        membership.save(update_fields=["role"])
    record(actor, "group.member", None, target=group.name, user=user.username, role=role.value)
    return membership


def _keep_an_admin(group: Group, leaving: User) -> None:
    others = Membership.objects.filter(group=group, role=Role.ADMIN).exclude(user=leaving)
    if not others.exists():
        raise Invalid(
            AccountError.LAST_GROUP_ADMIN,
            f"{leaving.username} is the last administrator of {group.name!r}; name another first.",
        )


@transaction.atomic
def remove_member(actor: Actor, group: Group, user: User) -> None:
    """Remove ``user`` from ``group`` (group administrators, or the user leaving)."""
    actor.require_write()
    leaving_self = actor.user is not None and actor.user.pk == user.pk
    if not leaving_self:
        _require_group_admin(actor, group)
    membership = Membership.objects.filter(group=group, user=user).first()
    if membership is None:
        raise NotFound(AccountError.NOT_A_MEMBER, f"{user.username} is not in {group.name!r}.")
    if membership.role == Role.ADMIN:
        _keep_an_admin(group, user)
    membership.delete()
    record(actor, "group.leave", None, target=group.name, user=user.username)


def members(actor: Actor, group: Group) -> QuerySet[Membership]:
    get_group(actor, group.pk)
    return (
        Membership.objects.filter(group=group)
        .select_related("user")
        .order_by("-role", "user__username")
    )


@transaction.atomic
def mirror_memberships(
    actor: Actor, user: User, member_of: set[str], mirrored: set[str]
) -> tuple[list[str], list[str]]:
    """Make ``user``'s memberships of the ``mirrored`` groups what a directory says.

    ``member_of`` names the directory groups the user is in; of the ``mirrored`` names (the
    groups an administrator chose to mirror, compared without regard to case) the user joins
    those in ``member_of`` (the group is created, private, on first use) and leaves the others.
    Other groups are left alone, and so is a role already held. A user who is the last
    administrator of a mirrored group stays in it (logged), as `remove_member` requires.
    Site administrators (or the system) only. Returns the names joined and left.
    """
    if not actor.is_site_admin:
        raise PermissionDenied(
            AccountError.NOT_SITE_ADMIN, "Only site administrators mirror directory groups."
        )
    require = {name.casefold() for name in mirrored}
    wanted = {name for name in member_of if name.casefold() in require}
    joined: list[str] = []
    left: list[str] = []
    current = {
        m.group.name.casefold(): m
        for m in Membership.objects.filter(user=user).select_related("group")
        if m.group.name.casefold() in require
    }
    for name in sorted(wanted):
        if name.casefold() in current:
            continue
        group = Group.objects.filter(name__iexact=name).first()
        if group is None:
            group = create_group(
                actor, name, description="Mirrored from the LDAP directory.", public=False
            )
        set_member(actor, group, user, Role.MEMBER)
        joined.append(group.name)
    wanted_folded = {name.casefold() for name in wanted}
    for folded, membership in sorted(current.items()):
        if folded in wanted_folded:
            continue
        try:
            remove_member(actor, membership.group, user)
        except Invalid:
            log.warning(
                "%s left %r in the directory but is its last administrator; kept",
                user.username,
                membership.group.name,
            )
            continue
        left.append(membership.group.name)
    return joined, left
