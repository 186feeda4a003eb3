"""The caller's recycle bin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS, detail
from sinfonia.api.schemas import NodeDetailOut
from sinfonia.resources.models import Kind
from sinfonia.resources.services import trash

router = Router(tags=["recycle bin"])


class TrashItemOut(Schema):
    id: int
    node_id: int
    kind: str
    name: str
    size: int
    original_path: str
    trashed_at: datetime


class RestoreIn(Schema):
    new_name: str | None = None


@router.get("/trash", response=list[TrashItemOut], summary="Your recycle bin, newest first")
def list_trash(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "id": item.id,
            "node_id": item.node_id,
            "kind": Kind(item.node.kind).label,
            "name": item.node.name,
            "size": item.node.size,
            "original_path": item.original_path,
            "trashed_at": item.trashed_at,
        }
        for item in trash.bin_of(actor(request))
    ]


@router.post(
    "/trash/{item_id}/restore",
    response={200: NodeDetailOut, **ERRORS},
    summary="Put an element back where it was",
)
def restore(request: HttpRequest, item_id: int, body: RestoreIn | None = None) -> dict[str, Any]:
    node = trash.restore(actor(request), item_id, new_name=body.new_name if body else None)
    return detail(request, node)


@router.delete("/trash/{item_id}", response={204: None, **ERRORS}, summary="Purge for good")
def purge(request: HttpRequest, item_id: int) -> Status[None]:
    trash.purge(actor(request), item_id)
    return Status(204, None)


class PurgedOut(Schema):
    purged: int


@router.delete("/trash", response=PurgedOut, summary="Empty your recycle bin")
def purge_all(request: HttpRequest) -> dict[str, int]:
    return {"purged": trash.purge_all(actor(request))}
