"""Creating and editing tree elements: collections, folders, filesets, home collections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction

from sinfonia.audit.services import record, record_many
from sinfonia.core import bulk
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, PermissionDenied
from sinfonia.core.names import clean_name
from sinfonia.resources import access, identifiers
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import AccessEntry, Kind, Level, Node
from sinfonia.resources.selectors import path_of, paths_of
from sinfonia.resources.services.common import (
    clash_as_conflict,
    ensure_names_free,
    ensure_top_name_free,
    new_node,
    require_container,
)

if TYPE_CHECKING:
    from sinfonia.accounts.models import User

HOME_PREFIX = "~"


def _description(text: str) -> str:
    if "\x00" in text:
        raise Invalid(
            ResourceError.INVALID_DESCRIPTION, "A description must not contain NUL characters."
        )
    return text


def _collection_name(raw: str) -> str:
    name = clean_name(raw, what="collection name")
    if name.startswith(HOME_PREFIX):
        raise Invalid(
            ResourceError.NAME_TAKEN,
            f"Collection names starting with {HOME_PREFIX!r} are reserved for personal folders.",
        )
    return name


@transaction.atomic
def create_collection(
    actor: Actor, name: str, *, description: str = "", public: bool = False
) -> Node:
    """Create a top-level collection. Site administrators only; the creator gets admin."""
    if not actor.is_site_admin:
        raise PermissionDenied(
            ResourceError.PERMISSION_DENIED, "Only site administrators create collections."
        )
    name = _collection_name(name)
    description = _description(description)
    ensure_top_name_free(name)
    with clash_as_conflict(name):
        node = new_node(
            kind=Kind.COLLECTION,
            parent=None,
            name=name,
            acl_root_id=None,
            description=description,
            public=public,
            creator=actor.user,
        )
        node.save()
    _make_acl_root(node)
    if actor.user is not None:
        AccessEntry.objects.create(node=node, user=actor.user, level=Level.ADMIN)
    record(actor, "collection.create", node, path=path_of(node))
    return node


def _make_acl_root(node: Node) -> None:
    Node.objects.filter(pk=node.pk).update(acl_root_id=node.pk)
    node.acl_root_id = node.pk


def ensure_home(user: User) -> Node:
    """The user's personal collection ("My folder"), created on first need."""
    existing = Node.objects.filter(home_of=user).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        node = new_node(
            kind=Kind.COLLECTION,
            parent=None,
            name=f"{HOME_PREFIX}{user.username}",
            acl_root_id=None,
            home_of=user,
            creator=user,
            description=f"Personal folder of {user.username}",
        )
        node.save()
        _make_acl_root(node)
        AccessEntry.objects.create(node=node, user=user, level=Level.ADMIN)
    return node


def _create_child(
    actor: Actor,
    kind: Kind,
    parent: Node,
    name: str,
    description: str,
    sinfonia_id: str | identifiers.ProjectId | None,
) -> Node:
    access.require(actor, Level.WRITE, parent)
    require_container(parent, f"{kind.label.capitalize()}s")
    name = clean_name(name)
    description = _description(description)
    project_id = _project_id(sinfonia_id)
    ensure_names_free(parent, [name])
    with clash_as_conflict(name):
        node = new_node(
            kind=kind,
            parent=parent,
            name=name,
            acl_root_id=parent.acl_root_id,
            project_id=project_id,
            description=description,
            creator=actor.user,
        )
        node.save()
    record(actor, f"{kind.label}.create", node, path=path_of(node))
    return node


def _project_id(value: str | identifiers.ProjectId | None) -> identifiers.ProjectId | None:
    if value is None or isinstance(value, identifiers.ProjectId):
        return value
    return identifiers.parse(value)


@transaction.atomic
def create_folder(
    actor: Actor,
    parent: Node,
    name: str,
    *,
    description: str = "",
    sinfonia_id: str | identifiers.ProjectId | None = None,
) -> Node:
    """Create a folder in a collection or folder; needs write access there."""
    return _create_child(actor, Kind.FOLDER, parent, name, description, sinfonia_id)


@transaction.atomic
def create_fileset(
    actor: Actor,
    parent: Node,
    name: str,
    *,
    description: str = "",
    sinfonia_id: str | identifiers.ProjectId | None = None,
) -> Node:
    """Create an empty fileset in a collection or folder; needs write access there."""
    return _create_child(actor, Kind.FILESET, parent, name, description, sinfonia_id)


@transaction.atomic
def find_or_create_children(
    actor: Actor, wanted: Sequence[tuple[Node, Kind, str]]
) -> dict[tuple[int, str], Node]:
    """The children (parent, kind, name) of ``wanted``, by (parent id, name): those there
    already, and the missing ones created as `create_folder` and `create_fileset` create them
    (same checks, rows and audit events), in a few queries for all: the batch form that
    filing a batch of DICOM instances into Patient / Study / Series folders uses.

    All or nothing. Errors: Conflict (a name held by an element of another kind, or taken
    meanwhile by a concurrent writer), NotFound / PermissionDenied (no write access to a
    parent), Invalid (a bad name, a parent that holds no folders).
    """
    parents = {parent.id: parent for parent, _, _ in wanted}
    kinds = {(parent.id, clean_name(name)): kind for parent, kind, name in wanted}
    found: dict[tuple[int, str], Node] = {}
    there = Node.objects.filter(
        parent_id__in=parents, name__in={name for _, name in kinds}, in_trash=False
    )
    for node in there:
        key = (node.parent_id or 0, node.name)
        if key not in kinds:
            continue
        if node.kind != kinds[key]:
            raise Conflict(
                ResourceError.NAME_TAKEN,
                f"{node.name!r} exists in {parents[key[0]].name!r} and is a {node.kind_name}.",
            )
        found[key] = node
    # In one order for every writer, so that two batches making the same names wait for each
    # other instead of deadlocking (PostgreSQL locks each new name's index entry).
    missing = sorted((key, kind) for key, kind in kinds.items() if key not in found)
    if not missing:
        return found
    checked: set[tuple[int | None, bool]] = set()
    for (parent_id, _), kind in missing:
        parent = parents[parent_id]
        if (parent.acl_root_id, parent.in_trash) not in checked:  # the same answer for all
            access.require(actor, Level.WRITE, parent)  # below one access-list root
            checked.add((parent.acl_root_id, parent.in_trash))
        require_container(parent, f"{kind.label.capitalize()}s")
    made = [
        new_node(
            kind=kind,
            parent=parents[parent_id],
            name=name,
            acl_root_id=parents[parent_id].acl_root_id,
            description="",
            creator=actor.user,
        )
        for (parent_id, name), kind in missing
    ]
    with clash_as_conflict(made[0].name if len(made) == 1 else f"{made[0].name} (or another)"):
        bulk.insert_returning_ids(made)
    paths = paths_of(list(parents.values()))
    for kind in dict.fromkeys(kind for _, kind in missing):
        record_many(
            actor,
            f"{kind.label}.create",
            [
                (node, f"{paths[node.parent_id or 0]}/{node.name}", {})
                for node in made
                if node.kind == kind
            ],
        )
    found.update(((node.parent_id or 0, node.name), node) for node in made)
    return found


@transaction.atomic
def update_node(
    actor: Actor,
    node: Node,
    *,
    name: str | None = None,
    description: str | None = None,
    sinfonia_id: str | identifiers.ProjectId | None = None,
) -> Node:
    """Rename and/or describe an element, or set its project identifier ("" clears it).

    Collections need admin access, other elements write access. Personal collections keep
    their name.
    """
    access.require(actor, Level.ADMIN if node.kind == Kind.COLLECTION else Level.WRITE, node)
    changes: dict[str, object] = {}
    if name is not None:
        new_name = _collection_name(name) if node.parent_id is None else clean_name(name)
        if node.home_of_id is not None and new_name != node.name:
            raise Invalid(ResourceError.NAME_TAKEN, "A personal folder cannot be renamed.")
        if new_name != node.name:
            if node.parent is None:
                ensure_top_name_free(new_name)
            else:
                ensure_names_free(node.parent, [new_name])
            changes["name"] = (node.name, new_name)
            node.name = new_name
    if description is not None and description != node.description:
        changes["description"] = True
        node.description = _description(description)
    if sinfonia_id is not None:
        pid = _project_id(sinfonia_id)
        assert pid is not None
        if pid.value != node.sinfonia_id:
            changes["sinfonia_id"] = (node.sinfonia_id, pid.value)
            node.sinfonia_id = pid.value
            node.sinfonia_id_parts = pid.as_parts()
    if changes:
        with clash_as_conflict(node.name):
            node.save()
        record(actor, f"{node.kind_name}.update", node, path=path_of(node), changes=changes)
    return node
