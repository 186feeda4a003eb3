"""Reads of the tree that more than one front-end needs. Every one filters through `access`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce

from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Kind, Level, Node

SortKey = Literal["name", "size", "created", "updated"]
SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("sort_name", "id"),
    "size": ("listed_size", "sort_name", "id"),
    "created": ("created_at", "id"),
    "updated": ("updated_at", "id"),
}
MAX_PAGE = 1000


def get_node(actor: Actor, node_id: int, level: Level = Level.READ) -> Node:
    """The node with ``node_id`` if ``actor`` holds ``level`` on it (else NotFound/denied)."""
    node = Node.objects.filter(pk=node_id).first()
    if node is None:
        raise NotFound(ResourceError.NOT_FOUND, "No such element, or you may not see it.")
    access.require(actor, level, node)
    return node


def get_nodes(actor: Actor, node_ids: list[int], level: Level) -> list[Node]:
    """Several nodes, in the order given; one missing or forbidden id fails the whole call."""
    if not node_ids:
        raise Invalid(ResourceError.EMPTY_SELECTION, "Pick at least one element.")
    found = {n.id: n for n in Node.objects.filter(pk__in=node_ids)}
    nodes = []
    for node_id in dict.fromkeys(node_ids):
        node = found.get(node_id)
        if node is None:  # the same answer as for a node the actor may not see
            raise NotFound(ResourceError.NOT_FOUND, "No such element, or you may not see it.")
        access.require(actor, level, node)
        nodes.append(node)
    return nodes


def split_path(path: str) -> list[str]:
    if not path.startswith("/"):
        raise Invalid(
            ResourceError.INVALID_PATH, "A path starts with '/', e.g. /Collection/Folder."
        )
    if "\x00" in path:
        raise Invalid(ResourceError.INVALID_PATH, "A path must not contain NUL characters.")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise Invalid(ResourceError.INVALID_PATH, "The path names no collection.")
    return parts


def lookup(actor: Actor, path: str) -> Node:
    """Resolve ``/Collection/Folder/.../Name``. Hidden and missing segments look the same."""
    import unicodedata

    node: Node | None = None
    for segment in split_path(path):
        segment = unicodedata.normalize("NFC", segment)
        qs = Node.objects.filter(in_trash=False, name=segment)
        qs = qs.filter(parent__isnull=True) if node is None else qs.filter(parent=node)
        node = qs.first()
        if node is None:
            break
    if node is None or not access.can(actor, Level.READ, node):
        raise NotFound(ResourceError.NOT_FOUND, f"Nothing at {path!r} that you may see.")
    return node


def path_of(node: Node) -> str:
    names = dict(Node.objects.filter(pk__in=node.ancestor_ids).values_list("id", "name"))
    return "/" + "/".join([*(names[i] for i in node.ancestor_ids), node.name])


def paths_of(nodes: list[Node]) -> dict[int, str]:
    """`path_of` for many nodes in one query, by node id."""
    ids = {i for node in nodes for i in node.ancestor_ids}
    names = dict(Node.objects.filter(pk__in=ids).values_list("id", "name")) if ids else {}
    return {
        node.id: "/" + "/".join([*(names[i] for i in node.ancestor_ids), node.name])
        for node in nodes
    }


def breadcrumb(node: Node) -> list[Node]:
    by_id = {n.id: n for n in Node.objects.filter(pk__in=node.ancestor_ids)}
    return [by_id[i] for i in node.ancestor_ids]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Node]
    total: int
    offset: int
    limit: int


def _page(qs: QuerySet[Node], offset: int, limit: int) -> Page:
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    items = list(qs[offset : offset + limit])
    # Creators in one query for the page, not a join: a join is also paid for every row an
    # OFFSET skips, which made deep pages of big folders slow on SQLite.
    prefetch_related_objects(items, "creator")
    total = len(items) + offset if len(items) < limit and (items or offset == 0) else qs.count()
    _annotate_fileset_sizes(items)
    return Page(items=items, total=total, offset=offset, limit=limit)


def _order(sort: str, descending: bool) -> list[str]:
    if sort not in SORT_FIELDS:
        raise Invalid(
            ResourceError.INVALID_SORT, f"Sort by one of: {', '.join(SORT_FIELDS)} (not {sort!r})."
        )
    sign = "-" if descending else ""
    return ["kind", *(sign + f for f in SORT_FIELDS[sort])]


def list_children(
    actor: Actor,
    node: Node,
    *,
    offset: int = 0,
    limit: int = 50,
    sort: str = "name",
    descending: bool = False,
) -> Page:
    """One page of ``node``'s children that ``actor`` may see; folders first, then filesets."""
    access.require(actor, Level.READ, node)
    qs = access.visible(actor, Level.READ, Node.objects.filter(parent=node, in_trash=False))
    order = _order(sort, descending)
    if sort == "size":
        qs = qs.annotate(listed_size=_listed_size())
    return _page(qs.order_by(*order), offset, limit)


def _listed_size() -> Case:
    """The size a listing shows, so sorting agrees with it: a fileset's is its files' total."""
    totals = (
        Node.objects.filter(parent=OuterRef("pk"), in_trash=False, kind=Kind.FILE)
        .order_by()
        .values("parent")
        .annotate(total=Sum("size"))
        .values("total")
    )
    return Case(
        When(kind=Kind.FILESET, then=Coalesce(Subquery(totals), Value(0))),
        default=F("size"),
        output_field=BigIntegerField(),
    )


def list_collections(
    actor: Actor, *, offset: int = 0, limit: int = 50, include_homes: bool = False
) -> Page:
    qs = Node.objects.filter(parent__isnull=True, in_trash=False)
    if not include_homes:
        qs = qs.filter(home_of__isnull=True)
    qs = access.visible(actor, Level.READ, qs)
    return _page(qs.order_by("sort_name", "id"), offset, limit)


def _annotate_fileset_sizes(items: list[Node]) -> None:
    """Give filesets on a page their total size (sum of their files) in one query."""
    filesets = {n.id: n for n in items if n.kind == Kind.FILESET}
    if not filesets:
        return
    rows = (
        Node.objects.filter(parent_id__in=filesets, in_trash=False, kind=Kind.FILE)
        .values("parent_id")
        .annotate(total=Sum("size"), files=Count("id"))
    )
    for row in rows:
        node = filesets[row["parent_id"]]
        node.size = row["total"] or 0
        node.file_count = row["files"]  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Summary:
    size: int
    files: int
    filesets: int
    folders: int


def summary(actor: Actor, node: Node) -> Summary:
    """Size and element counts of everything below ``node`` that ``actor`` may see (the
    information panel): sub-folders with their own, closed permissions are not counted."""
    if node.kind == Kind.FILE:
        return Summary(size=node.size, files=1, filesets=0, folders=0)
    below = Node.objects.filter(ancestry__startswith=node.subtree_prefix, in_trash=False)
    row = access.visible(actor, Level.READ, below).aggregate(
        size=Sum("size", filter=Q(kind=Kind.FILE)),
        files=Count("id", filter=Q(kind=Kind.FILE)),
        filesets=Count("id", filter=Q(kind=Kind.FILESET)),
        folders=Count("id", filter=Q(kind=Kind.FOLDER)),
    )
    return Summary(
        size=row["size"] or 0,
        files=row["files"],
        filesets=row["filesets"],
        folders=row["folders"],
    )


def find_by_project_id(
    actor: Actor, components: dict[str, str], *, offset: int = 0, limit: int = 50
) -> Page:
    """Elements whose project identifier has all the given components (exact match each)."""
    qs = Node.objects.filter(in_trash=False).exclude(sinfonia_id="")
    for key, value in components.items():
        if value:
            qs = qs.filter(**{f"sinfonia_id_parts__{key}": value})
    qs = access.visible(actor, Level.READ, qs)
    return _page(qs.order_by("sinfonia_id", "id"), offset, limit)


def children_all(actor: Actor, node: Node) -> Iterator[Node]:
    """Every visible child of ``node``, page by page (folders first, by name)."""
    offset = 0
    while True:
        page = list_children(actor, node, offset=offset, limit=MAX_PAGE)
        yield from page.items
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return


def walk(
    actor: Actor, node: Node, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Node]]:
    """``node`` and everything below it that ``actor`` may read, as relative path parts,
    parents before children: files, and the folders and filesets that become directories.

    A fileset holding exactly one file of its own name stands for that file (how single
    uploads look), so exports and archives read naturally.
    """
    if node.kind == Kind.FILE:
        yield (*prefix, node.name), node
        return
    children = list(children_all(actor, node))
    if (
        node.kind == Kind.FILESET
        and len(children) == 1
        and children[0].kind == Kind.FILE
        and children[0].name == node.name
    ):
        yield (*prefix, node.name), children[0]
        return
    here = (*prefix, node.name)
    yield here, node
    for child in children:
        yield from walk(actor, child, here)


def standing_files(actor: Actor, nodes: list[Node]) -> dict[int, Node]:
    """For each fileset among ``nodes`` that holds exactly one visible file, of its own name,
    that file (two queries for a whole page). Such a fileset stands for its file, as in `walk`:
    a file uploaded into a folder looks like the file itself (SFTP listings, exports)."""
    names = {n.id: n.name for n in nodes if n.kind == Kind.FILESET}
    if not names:
        return {}
    children = access.visible(
        actor, Level.READ, Node.objects.filter(parent_id__in=names, in_trash=False)
    )
    single = [
        row["parent_id"]
        for row in children.order_by().values("parent_id").annotate(n=Count("id"))
        if row["n"] == 1
    ]
    found = children.filter(parent_id__in=single, kind=Kind.FILE)
    return {f.parent_id: f for f in found if f.parent_id and names[f.parent_id] == f.name}
