"""Collections, folders, filesets and files: the tree."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Body, Query, Router, Schema, Status
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.schemas import (
    ErrorOut,
    NodeDetailOut,
    NodeOut,
    PageOut,
    ProjectIdIn,
    summary_out,
)
from sinfonia.resources import access, identifiers, selectors
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.services import copymove, metadata, trash, tree

router = Router(tags=["resources"])
ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
}


def detail(request: HttpRequest, node: Node) -> dict[str, Any]:
    a = actor(request)
    level = access.level_of(a, node) or Level.READ
    out = NodeOut.of(node)
    out.update(
        path=selectors.path_of(node),
        breadcrumb=[
            {"id": n.id, "kind": Kind(n.kind).label, "name": n.name}
            for n in selectors.breadcrumb(node)
        ],
        summary=summary_out(selectors.summary(a, node)),
        meta=node.meta,
        access=Level(level).label,
        sha256=node.blob_id,
    )
    return out


class ListQuery(Schema):
    offset: int = Field(0, ge=0, le=2**31 - 1)
    limit: int = Field(50, ge=1, le=selectors.MAX_PAGE)
    sort: Literal["name", "size", "created", "updated"] = "name"
    order: Literal["asc", "desc"] = "asc"


def _sid(value: str | ProjectIdIn | None) -> str | identifiers.ProjectId | None:
    if value is None or isinstance(value, str):
        return value
    return identifiers.build(value.general, value.specific)


class CollectionIn(Schema):
    name: str
    description: str = ""
    public: bool = False


@router.get("/collections", response=PageOut, summary="Collections you may see")
def list_collections(
    request: HttpRequest, q: Query[ListQuery], personal: bool = False
) -> dict[str, Any]:
    page = selectors.list_collections(
        actor(request), offset=q.offset, limit=q.limit, include_homes=personal
    )
    return PageOut.of(page)


@router.post("/collections", response={201: NodeDetailOut, **ERRORS}, summary="Create a collection")
def create_collection(request: HttpRequest, body: CollectionIn) -> Status[dict[str, Any]]:
    node = tree.create_collection(
        actor(request), body.name, description=body.description, public=body.public
    )
    return Status(201, detail(request, node))


class ChildIn(Schema):
    parent_id: int
    name: str
    description: str = ""
    sinfonia_id: str | ProjectIdIn | None = None


@router.post("/folders", response={201: NodeDetailOut, **ERRORS}, summary="Create a folder")
def create_folder(request: HttpRequest, body: ChildIn) -> Status[dict[str, Any]]:
    a = actor(request)
    parent = selectors.get_node(a, body.parent_id, Level.READ)
    node = tree.create_folder(
        a, parent, body.name, description=body.description, sinfonia_id=_sid(body.sinfonia_id)
    )
    return Status(201, detail(request, node))


@router.post("/filesets", response={201: NodeDetailOut, **ERRORS}, summary="Create a fileset")
def create_fileset(request: HttpRequest, body: ChildIn) -> Status[dict[str, Any]]:
    a = actor(request)
    parent = selectors.get_node(a, body.parent_id, Level.READ)
    node = tree.create_fileset(
        a, parent, body.name, description=body.description, sinfonia_id=_sid(body.sinfonia_id)
    )
    return Status(201, detail(request, node))


@router.get(
    "/resource/lookup",
    response={200: NodeDetailOut, **ERRORS},
    summary="Find an element by path, e.g. /Collection/Folder/Fileset/file.dcm",
)
def lookup(request: HttpRequest, path: str) -> dict[str, Any]:
    return detail(request, selectors.lookup(actor(request), path))


@router.get("/resources/{int:node_id}", response={200: NodeDetailOut, **ERRORS})
def get_resource(request: HttpRequest, node_id: int) -> dict[str, Any]:
    return detail(request, selectors.get_node(actor(request), node_id))


class NodePatch(Schema):
    name: str | None = None
    description: str | None = None
    sinfonia_id: str | ProjectIdIn | None = Field(
        None, description='A project identifier; "" removes it.'
    )


@router.patch(
    "/resources/{int:node_id}",
    response={200: NodeDetailOut, **ERRORS},
    summary="Rename, describe, or set the project identifier",
)
def update_resource(request: HttpRequest, node_id: int, body: NodePatch) -> dict[str, Any]:
    a = actor(request)
    node = selectors.get_node(a, node_id)
    node = tree.update_node(
        a,
        node,
        name=body.name,
        description=body.description,
        sinfonia_id=_sid(body.sinfonia_id),
    )
    return detail(request, node)


@router.get(
    "/resources/{node_id}/children",
    response={200: PageOut, **ERRORS},
    summary="One page of an element's contents (folders first, then filesets, or files)",
)
def list_children(request: HttpRequest, node_id: int, q: Query[ListQuery]) -> dict[str, Any]:
    a = actor(request)
    node = selectors.get_node(a, node_id)
    page = selectors.list_children(
        a, node, offset=q.offset, limit=q.limit, sort=q.sort, descending=q.order == "desc"
    )
    return PageOut.of(page)


class SelectionIn(Schema):
    sources: list[int] = Field(min_length=1, max_length=10_000)
    destination_id: int


@router.post(
    "/resources/copy",
    response={201: list[NodeOut], **ERRORS},
    summary="Copy elements into a destination (no bytes are copied)",
)
def copy(request: HttpRequest, body: SelectionIn) -> Status[list[dict[str, Any]]]:
    a = actor(request)
    dest = selectors.get_node(a, body.destination_id)
    sources = selectors.get_nodes(a, body.sources, Level.READ)
    return Status(201, [NodeOut.of(n) for n in copymove.copy_nodes(a, sources, dest)])


@router.post(
    "/resources/move",
    response={200: list[NodeOut], **ERRORS},
    summary="Move elements into a destination",
)
def move(request: HttpRequest, body: SelectionIn) -> list[dict[str, Any]]:
    a = actor(request)
    dest = selectors.get_node(a, body.destination_id)
    sources = selectors.get_nodes(a, body.sources, Level.READ)
    return [NodeOut.of(n) for n in copymove.move_nodes(a, sources, dest)]


class DeleteIn(Schema):
    ids: list[int] = Field(min_length=1, max_length=10_000)


class TrashedOut(Schema):
    trash_ids: list[int]


@router.post(
    "/resources/delete",
    response={200: TrashedOut, **ERRORS},
    summary="Move several elements to your recycle bin",
)
def delete_many(request: HttpRequest, body: DeleteIn) -> dict[str, Any]:
    a = actor(request)
    items = trash.trash_nodes(a, selectors.get_nodes(a, body.ids, Level.READ))
    return {"trash_ids": [i.id for i in items]}


@router.delete(
    "/resources/{int:node_id}",
    response={200: TrashedOut, **ERRORS},
    summary="Move an element to your recycle bin",
)
def delete_one(request: HttpRequest, node_id: int) -> dict[str, Any]:
    a = actor(request)
    items = trash.trash_nodes(a, [selectors.get_node(a, node_id)])
    return {"trash_ids": [i.id for i in items]}


@router.get("/resources/{node_id}/metadata", response={200: dict[str, Any], **ERRORS})
def get_metadata(request: HttpRequest, node_id: int) -> dict[str, Any]:
    a = actor(request)
    return metadata.get_metadata(a, selectors.get_node(a, node_id))


@router.patch(
    "/resources/{node_id}/metadata",
    response={200: dict[str, Any], **ERRORS},
    summary="Merge keys into the metadata (null removes a key)",
)
def patch_metadata(
    request: HttpRequest, node_id: int, body: Body[dict[str, Any]]
) -> dict[str, Any]:
    a = actor(request)
    return metadata.set_metadata(a, selectors.get_node(a, node_id), body)


@router.put(
    "/resources/{node_id}/metadata",
    response={200: dict[str, Any], **ERRORS},
    summary="Replace the metadata",
)
def put_metadata(request: HttpRequest, node_id: int, body: Body[dict[str, Any]]) -> dict[str, Any]:
    a = actor(request)
    return metadata.set_metadata(a, selectors.get_node(a, node_id), body, replace=True)
