"""Collection, folder and fileset pages; their contents list (an htmx partial); the previewer."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from sinfonia.core import errors
from sinfonia.resources import access, selectors
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.services import files
from sinfonia.storage import blobstore
from sinfonia.transfers.services import office
from sinfonia.web.common import actor, int_param, paging, portal_view

TEXT_PREVIEW_BYTES = 64 * 1024
CSV_PREVIEW_ROWS = 100
OFFICE_POLL_MS = 1500  # how often the previewer asks whether a conversion finished
SORTS = ("name", "size", "created", "updated")
# CT window presets (centre / width in HU), the usual radiology reading settings.
WINDOW_PRESETS = (
    {"label": _("Lung"), "center": -600, "width": 1500},
    {"label": _("Bone"), "center": 400, "width": 1800},
    {"label": _("Soft tissue"), "center": 50, "width": 400},
    {"label": _("Brain"), "center": 40, "width": 80},
)


@portal_view
def node_page(request: HttpRequest, node_id: int) -> HttpResponse:
    """A collection, folder or fileset: breadcrumb, buttons, information panel, and a
    placeholder the contents list is loaded into. A file opens its fileset's previewer."""
    a = actor(request)
    node = selectors.get_node(a, node_id)
    if node.kind == Kind.FILE:
        assert node.parent_id is not None
        return redirect(reverse("node", args=[node.parent_id]) + f"?preview={node.id}")
    level = access.level_of(a, node)
    crumbs = [n for n in selectors.breadcrumb(node) if access.can(a, Level.READ, n)]
    context: dict[str, Any] = {
        "node": node,
        "crumbs": crumbs,
        "parent": crumbs[-1] if crumbs and crumbs[-1].id == node.parent_id else None,
        "summary": selectors.summary(a, node),
        "may_write": level is not None and level >= Level.WRITE,
        "may_admin": level is not None and level >= Level.ADMIN and node.kind != Kind.FILESET,
        "is_home": node.home_of_id is not None,
        "preview_id": int_param(request.GET.get("preview"), 0, 0, 2**62),
        "search_under": selectors.path_of(node),
    }
    return render(request, "web/node.html", context)


@portal_view
def children(request: HttpRequest, node_id: int) -> HttpResponse:
    """One page of a node's contents, sorted (the partial htmx swaps into the node page)."""
    a = actor(request)
    node = selectors.get_node(a, node_id)
    sort = request.GET.get("sort", "name")
    sort = sort if sort in SORTS else "name"
    descending = request.GET.get("order") == "desc"
    limit = int_param(request.GET.get("limit"), 20, 1, 200)
    offset = int_param(request.GET.get("offset"), 0, 0, 2**62)
    page = selectors.list_children(
        a, node, offset=offset, limit=limit, sort=sort, descending=descending
    )
    level = access.level_of(a, node)
    last = max(0, (page.total - 1) // limit * limit)
    context = {
        "node": node,
        "page": page,
        "sort": sort,
        "order": "desc" if descending else "asc",
        **paging(offset, limit, len(page.items), page.total),
        "last_offset": last,
        "may_write": level is not None and level >= Level.WRITE,
        "parent_id": node.parent_id,
    }
    return render(request, "web/partials/children.html", context)


def _kind_of_preview(node: Node) -> str:
    mime = node.mime_type or files.guess_mime(node.name)
    name = node.name.lower()
    if mime == "application/dicom" or name.endswith((".dcm", ".dicom")):
        return "dicom"
    if mime in ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"):
        return "image"
    if mime in ("video/mp4", "video/webm", "video/ogg"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    if mime == "application/pdf":
        return "pdf"
    if office.is_office(node):
        return "office"
    if mime in ("text/csv", "text/tab-separated-values") or name.endswith((".csv", ".tsv")):
        return "csv"
    if mime == "application/zip" or name.endswith(".zip"):
        return "zip"
    if (mime.startswith("text/") and mime not in ("text/html", "text/xml")) or mime in (
        "application/json",
    ):
        return "text"
    return "other"


def _head(node: Node) -> str:
    assert node.blob_id is not None
    data = b"".join(blobstore.read_chunks(node.blob_id, 0, min(node.size, TEXT_PREVIEW_BYTES)))
    return data.decode("utf-8", errors="replace")


@portal_view
def preview(request: HttpRequest, node_id: int) -> HttpResponse:
    """The previewer for one file (an htmx partial): DICOM snapshot and tags, image, video,
    audio, PDF (the browser's viewer), office documents as PDF (converted in the background:
    "Converting…" polls this view until done), text, CSV as a table, ZIP table of contents; for
    anything else its details and a download button."""
    a = actor(request)
    node = selectors.get_node(a, node_id)
    if node.kind != Kind.FILE:
        raise Http404("not a file")
    kind = _kind_of_preview(node)
    context: dict[str, Any] = {"file": node, "kind": kind, "poll_ms": OFFICE_POLL_MS}
    try:
        if kind == "dicom":
            context |= _dicom(a, node)
        elif kind == "text":
            context["text"] = _head(node)
            context["truncated"] = node.size > TEXT_PREVIEW_BYTES
        elif kind == "csv":
            text = _head(node)
            dialect = "excel-tab" if node.name.lower().endswith(".tsv") else "excel"
            rows = list(csv.reader(io.StringIO(text), dialect=dialect))[: CSV_PREVIEW_ROWS + 1]
            context["rows"] = rows
            context["truncated"] = node.size > TEXT_PREVIEW_BYTES or len(rows) > CSV_PREVIEW_ROWS
        elif kind == "office":
            context["office"] = office.office_pdf(a, node)
        elif kind == "zip":
            from sinfonia.transfers.services.zips import table_of_contents

            context["entries"] = table_of_contents(a, node)[:1000]
    except errors.Invalid as exc:
        context["kind"] = "other"
        context["problem"] = exc.message
    return render(request, "web/partials/preview.html", context)


def _dicom(a: Any, node: Node) -> dict[str, Any]:
    from sinfonia.dicom import selectors as dicom
    from sinfonia.dicom import tags as dicom_tags

    index = dicom.file_index(a, node)
    ds = dicom.dataset(a, node, pixels=False, purpose="tags")
    listed = [t for t in dicom_tags.tag_list(ds) if t.get("value") is not None]
    series_uid = index.instance.series.series_instance_uid if index.instance else ""
    modality = str(getattr(ds, "Modality", ""))
    study_uid = index.instance.series.study.study_instance_uid if index.instance else ""
    return {
        "tags": listed[:400],
        "series_uid": series_uid,
        "presets": WINDOW_PRESETS,
        "viewer_url": _viewer_url(study_uid),
        "rt": modality in ("RTSTRUCT", "RTPLAN", "RTDOSE", "RTIMAGE"),
        "renderable": "PixelData" in ds or "FloatPixelData" in ds or _has_pixels(ds),
        "frames": int(getattr(ds, "NumberOfFrames", 1) or 1),
    }


def _viewer_url(study_uid: str) -> str:
    """Where "Open study in viewer" goes: the viewer configured in SINFONIA_VIEWER_URL, else the
    built-in OHIF viewer when scripts/build-static installed it; empty: no button."""
    from sinfonia.web import viewer

    if not study_uid:
        return ""
    if settings.SINFONIA_VIEWER_URL:
        return str(settings.SINFONIA_VIEWER_URL).replace("{study}", quote(study_uid))
    return viewer.study_url(quote(study_uid)) if viewer.installed() else ""


def _has_pixels(ds: Any) -> bool:
    return bool(getattr(ds, "Rows", 0)) and bool(getattr(ds, "Columns", 0))
