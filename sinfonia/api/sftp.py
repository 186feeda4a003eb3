"""The SFTP page's calls: connection details, the staging area, import and export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.operations import OperationOut
from sinfonia.api.resources import ERRORS
from sinfonia.resources import selectors
from sinfonia.resources.models import Level
from sinfonia.sftp.connection import connection_info, hostname_of
from sinfonia.transfers.services import staging, staging_jobs

router = Router(tags=["sftp"])


class ConnectionOut(Schema):
    enabled: bool
    host: str
    port: int
    username: str
    fingerprint: str
    instructions: dict[str, str]


@router.get(
    "/sftp/connection",
    response=ConnectionOut,
    summary="How to connect with an SFTP client (FileZilla, WinSCP, sftp)",
)
def connection(request: HttpRequest) -> dict[str, Any]:
    info = connection_info(actor(request), _hostname(request))
    return {
        "enabled": info.enabled,
        "host": info.host,
        "port": info.port,
        "username": info.username,
        "fingerprint": info.fingerprint,
        "instructions": info.instructions,
    }


def _hostname(request: HttpRequest) -> str:
    return hostname_of(request.get_host())


class StagingQuery(Schema):
    path: str = Field("", description="a folder of the staging area, e.g. 'scans/day1'")
    offset: int = Field(0, ge=0, le=2**31 - 1)
    limit: int = Field(100, ge=1, le=staging.MAX_PAGE)


class EntryOut(Schema):
    name: str
    path: str
    is_dir: bool
    size: int
    modified: datetime


class StagingPageOut(Schema):
    path: str
    items: list[EntryOut]
    total: int
    offset: int
    limit: int
    usage: int
    quota: int


@router.get(
    "/sftp/staging",
    response={200: StagingPageOut, **ERRORS},
    summary="One page of your staging area (/home over SFTP), folders first",
)
def list_staging(request: HttpRequest, q: Query[StagingQuery]) -> dict[str, Any]:
    page = staging.list_entries(actor(request), q.path, offset=q.offset, limit=q.limit)
    return {
        "path": page.path,
        "items": [
            {
                "name": e.name,
                "path": e.path,
                "is_dir": e.is_dir,
                "size": e.size,
                "modified": e.modified,
            }
            for e in page.items
        ],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "usage": page.usage,
        "quota": page.quota,
    }


class ImportIn(Schema):
    paths: list[str] = Field(min_length=1, max_length=10_000, description="staging entries")
    destination_id: int = Field(description="a collection or folder you may write")
    folder_name: str | None = Field(None, description="default upload_<user>_<timestamp>")
    sinfonia_id: str | None = Field(None, description="project identifier for what is imported")
    remove_after: bool = Field(False, description="delete the imported entries from staging")


@router.post(
    "/sftp/import",
    response={202: OperationOut, **ERRORS},
    summary="Import staging entries (files and folder trees) into a new folder, in the "
    "background (see /operations/{id})",
)
def import_staging(request: HttpRequest, body: ImportIn) -> Status[dict[str, Any]]:
    a = actor(request)
    destination = selectors.get_node(a, body.destination_id, Level.READ)
    op = staging_jobs.start_import(
        a,
        body.paths,
        destination,
        folder_name=body.folder_name,
        sinfonia_id=body.sinfonia_id,
        remove_after=body.remove_after,
    )
    return Status(202, OperationOut.of(op))


class ExportIn(Schema):
    sources: list[int] = Field(min_length=1, max_length=10_000)
    folder_name: str | None = Field(None, description="default download_<user>_<timestamp>")


@router.post(
    "/sftp/export",
    response={202: OperationOut, **ERRORS},
    summary="Copy repository elements into your staging area, in the background",
)
def export_staging(request: HttpRequest, body: ExportIn) -> Status[dict[str, Any]]:
    a = actor(request)
    nodes = selectors.get_nodes(a, body.sources, Level.READ)
    op = staging_jobs.start_export(a, nodes, folder_name=body.folder_name)
    return Status(202, OperationOut.of(op))


class DeleteIn(Schema):
    paths: list[str] = Field(min_length=1, max_length=10_000, description="staging entries")


class DeletedOut(Schema):
    deleted: int


@router.post(
    "/sftp/delete",
    response={200: DeletedOut, **ERRORS},
    summary="Delete files and whole folders from your staging area",
)
def delete_staging(request: HttpRequest, body: DeleteIn) -> dict[str, Any]:
    return {"deleted": staging.delete_entries(actor(request), body.paths)}
