"""Streamed ZIP downloads of selections."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from ninja import Query, Router, Schema
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.files import stream
from sinfonia.api.resources import ERRORS
from sinfonia.core.names import clean_name
from sinfonia.resources import selectors
from sinfonia.resources.models import Level
from sinfonia.transfers.services import archives, operations

router = Router(tags=["files"])


class ArchiveQuery(Schema):
    ids: list[int] = Field(min_length=1, max_length=10_000)
    name: str = "sinfonia-download"
    progress: UUID | None = Field(
        None,
        description="a new UUID of your choice: the download's progress is then readable at "
        "/operations/{progress} while it runs (the portal's download toasts)",
    )


def _zip(
    request: HttpRequest, ids: list[int], name: str, token: UUID | None = None
) -> HttpResponseBase:
    a = actor(request)
    operations.check_token(token)  # before any read is audited
    nodes = selectors.get_nodes(a, ids, Level.READ)
    members = archives.members(a, nodes)
    filename = clean_name(name, what="archive name")
    if not filename.lower().endswith(".zip"):
        filename += ".zip"
    op_id, chunks = archives.tracked(a, members, archives.zip_chunks(members), token)
    response = StreamingHttpResponse(stream(request, chunks), content_type="application/zip")
    response["X-Operation-Id"] = op_id
    response["Content-Disposition"] = content_disposition_header(True, filename) or ""
    response["X-Archive-Files"] = str(sum(1 for m in members if m.node.blob_id is not None))
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get(
    "/archive",
    response={200: None, **ERRORS},
    summary="Download a selection as one streamed ZIP (tree kept; ZIP64 beyond 4 GB)",
)
def archive_get(request: HttpRequest, q: Query[ArchiveQuery]) -> HttpResponseBase:
    return _zip(request, q.ids, q.name, q.progress)


@router.post("/archive", response={200: None, **ERRORS}, summary="Same, for large selections")
def archive_post(request: HttpRequest, body: ArchiveQuery) -> HttpResponseBase:
    return _zip(request, body.ids, body.name, body.progress)
