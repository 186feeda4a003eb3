"""Background operations (progress), ZIP contents and extraction, background copies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS, SelectionIn
from sinfonia.resources import selectors
from sinfonia.resources.models import Level
from sinfonia.transfers.models import Operation
from sinfonia.transfers.services import jobs, operations, zips

router = Router(tags=["operations"])


class OperationOut(Schema):
    id: str
    kind: str
    status: str
    done: int
    total: int
    unit: str
    message: str
    result: dict[str, Any]
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def of(op: Operation) -> dict[str, Any]:
        return {
            "id": str(op.id),
            "kind": op.kind,
            "status": op.status,
            "done": op.done,
            "total": op.total,
            "unit": op.unit,
            "message": op.message,
            "result": op.result,
            "error": op.error,
            "created_at": op.created_at,
            "started_at": op.started_at,
            "finished_at": op.finished_at,
        }


@router.get("/operations", response=list[OperationOut], summary="Your recent long operations")
def list_operations(request: HttpRequest) -> list[dict[str, Any]]:
    return [OperationOut.of(op) for op in operations.list_operations(actor(request))]


@router.get(
    "/operations/{op_id}",
    response={200: OperationOut, **ERRORS},
    summary="Progress and result of a long operation",
)
def get_operation(request: HttpRequest, op_id: str) -> dict[str, Any]:
    return OperationOut.of(operations.get_operation(actor(request), op_id))


class ZipEntryOut(Schema):
    name: str
    size: int
    compressed_size: int
    is_dir: bool
    encrypted: bool
    symlink: bool
    modified: datetime | None


@router.get(
    "/files/{node_id}/zip",
    response={200: list[ZipEntryOut], **ERRORS},
    tags=["files"],
    summary="Table of contents of a ZIP file, without extracting it",
)
def zip_contents(request: HttpRequest, node_id: int) -> list[zips.Entry]:
    a = actor(request)
    return zips.table_of_contents(a, selectors.get_node(a, node_id))


class ExtractIn(Schema):
    destination_id: int
    folder_name: str | None = None


@router.post(
    "/files/{node_id}/zip/extract",
    response={202: OperationOut, **ERRORS},
    tags=["files"],
    summary="Extract a ZIP file into a new folder, in the background (see /operations/{id})",
)
def zip_extract(request: HttpRequest, node_id: int, body: ExtractIn) -> Status[dict[str, Any]]:
    a = actor(request)
    node = selectors.get_node(a, node_id)
    destination = selectors.get_node(a, body.destination_id)
    op = zips.start_extraction(a, node, destination, body.folder_name)
    return Status(202, OperationOut.of(op))


@router.post(
    "/resources/copy/background",
    response={202: OperationOut, **ERRORS},
    tags=["resources"],
    summary="Copy a large selection in the background (see /operations/{id})",
)
def copy_background(request: HttpRequest, body: SelectionIn) -> Status[dict[str, Any]]:
    a = actor(request)
    dest = selectors.get_node(a, body.destination_id, Level.WRITE)
    sources = selectors.get_nodes(a, body.sources, Level.READ)
    return Status(202, OperationOut.of(jobs.start_copy(a, sources, dest)))
