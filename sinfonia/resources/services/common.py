"""Pieces shared by the resource services."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError

from sinfonia.core.errors import Conflict, Invalid
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.identifiers import ProjectId
from sinfonia.resources.models import CONTAINERS, Kind, Node


def new_node(
    *,
    kind: Kind,
    parent: Node | None,
    name: str,
    acl_root_id: int | None,
    project_id: ProjectId | None = None,
    **fields: Any,
) -> Node:
    """An unsaved Node with its derived columns (ancestry, sort key, search text) filled in.

    Every creation path (single create, upload, bulk copy) builds nodes here so the derived
    columns can never disagree with the name and parent.
    """
    node = Node(
        kind=kind,
        parent=parent,
        ancestry=parent.subtree_prefix if parent is not None else "/",
        name=name,
        sort_name=name.casefold()[:255],
        acl_root_id=acl_root_id,
        **fields,
    )
    if project_id is not None:
        node.sinfonia_id = project_id.value
        node.sinfonia_id_parts = project_id.as_parts()
    node.derive_columns()
    return node


def ensure_names_free(parent: Node, names: Iterable[str]) -> None:
    """Refuse with a clear message if any of ``names`` exists in ``parent`` or repeats."""
    wanted = list(names)
    seen: set[str] = set()
    for name in wanted:
        if name in seen:
            raise Conflict(
                ResourceError.NAME_TAKEN,
                f"Two of the picked elements are named {name!r}; "
                f"{parent.name!r} can hold only one.",
            )
        seen.add(name)
    taken = (
        Node.objects.filter(parent=parent, in_trash=False, name__in=wanted)
        .values_list("name", flat=True)
        .first()
    )
    if taken is not None:
        raise Conflict(
            ResourceError.NAME_TAKEN,
            f"An element named {taken!r} already exists in {parent.name!r}.",
            name=taken,
        )


def ensure_top_name_free(name: str) -> None:
    if Node.objects.filter(parent__isnull=True, in_trash=False, name=name).exists():
        raise Conflict(ResourceError.NAME_TAKEN, f"A collection named {name!r} already exists.")


@contextmanager
def clash_as_conflict(name: str) -> Iterator[None]:
    """Turn a unique-name violation raised by a concurrent writer into a clear Conflict."""
    try:
        yield
    except IntegrityError as exc:
        if "name" in str(exc).lower() or "unique" in str(exc).lower():
            raise Conflict(
                ResourceError.NAME_TAKEN, f"An element named {name!r} was just created there."
            ) from exc
        raise


def require_container(node: Node, what: str) -> None:
    if node.kind not in CONTAINERS:
        raise Invalid(
            ResourceError.NOT_A_CONTAINER,
            f"{what} go into a collection or folder; {node.name!r} is a {node.kind_name}.",
        )
