"""Renderings of files for viewing: an office document as PDF (converted in the background)."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from ninja import Router, Schema
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS
from sinfonia.resources.selectors import get_node
from sinfonia.transfers.services import office

router = Router(tags=["files"])


class ConvertingOut(Schema):
    state: str = Field(description='"converting": ask again in a moment')
    detail: str


@router.get(
    "/files/{int:node_id}/pdf",
    response={200: None, 202: ConvertingOut, **ERRORS},
    summary="An office document (docx, xlsx, pptx, odt, ods, odp, doc, xls, ppt, rtf) as PDF; "
    "202 while it is being converted (once per content, in the background)",
)
def office_pdf(request: HttpRequest, node_id: int) -> HttpResponseBase:
    a = actor(request)
    node = get_node(a, node_id)
    path = office.pdf_to_send(a, node)
    if path is None:
        body = {"state": "converting", "detail": "The document is being converted to PDF."}
        return JsonResponse(body, status=202, headers={"Retry-After": "2"})
    stem = node.name.rsplit(".", 1)[0] or node.name
    response = FileResponse(
        open(path, "rb"),  # noqa: SIM115 (FileResponse closes it)
        content_type="application/pdf",
        as_attachment=False,
        filename=f"{stem}.pdf",
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Frame-Options"] = "SAMEORIGIN"  # the portal's previewer shows it in a frame
    return response
