"""Permissions (access lists) of collections and folders."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from sinfonia.accounts.models import Group, User
from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS
from sinfonia.core.errors import Invalid
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Level
from sinfonia.resources.selectors import get_node
from sinfonia.resources.services import acl

router = Router(tags=["permissions"])
LevelName = Literal["read", "write", "admin"]
LEVELS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}


class EntryOut(Schema):
    user: str | None = None
    group: str | None = None
    level: LevelName


class AclOut(Schema):
    node_id: int
    inherited: bool
    source_id: int
    public: bool
    entries: list[EntryOut]


class EntryIn(Schema):
    user: str | None = Field(None, description="user name")
    group: str | None = Field(None, description="group name")
    level: LevelName


class AclIn(Schema):
    inherit: bool = Field(False, description="drop this folder's own list and inherit again")
    public: bool = False
    entries: list[EntryIn] = Field(default_factory=list)


def _out(view: acl.AclView) -> dict[str, Any]:
    return {
        "node_id": view.node.id,
        "inherited": view.inherited,
        "source_id": view.source.id,
        "public": view.public,
        "entries": [
            {
                "user": e.user.username if e.user else None,
                "group": e.group.name if e.group else None,
                "level": Level(e.level).label,
            }
            for e in view.entries
        ],
    }


@router.get("/resources/{node_id}/acl", response={200: AclOut, **ERRORS})
def get_acl(request: HttpRequest, node_id: int) -> dict[str, Any]:
    a = actor(request)
    return _out(acl.get_acl(a, get_node(a, node_id)))


@router.put(
    "/resources/{node_id}/acl",
    response={200: AclOut, **ERRORS},
    summary="Set a collection's or folder's own permissions, or make it inherit again",
)
def put_acl(request: HttpRequest, node_id: int, body: AclIn) -> dict[str, Any]:
    a = actor(request)
    node = get_node(a, node_id)
    if body.inherit:
        return _out(acl.set_acl(a, node, None))
    grants = []
    for e in body.entries:
        if (e.user is None) == (e.group is None):
            raise Invalid(ResourceError.INVALID_ACL, "Each entry names a user or a group.")
        if e.user is not None:
            user = User.objects.filter(username=e.user, is_active=True).first()
            if user is None:
                raise Invalid(ResourceError.INVALID_ACL, f"No user named {e.user!r}.")
            grants.append(acl.Grant(level=LEVELS[e.level], user=user))
        else:
            group = Group.objects.filter(name=e.group).first()
            if group is None:
                raise Invalid(ResourceError.INVALID_ACL, f"No group named {e.group!r}.")
            grants.append(acl.Grant(level=LEVELS[e.level], group=group))
    return _out(acl.set_acl(a, node, grants, public=body.public))
