"""The portal's search: the shareable results page ``/search/?q=`` and the results partial the
header's quick search and the advanced dialog load into their modal (docs/portal.md, "Search").

Both render what `sinfonia.search.selectors.search` answers, the service behind the REST API
and the command line, so all three find the same elements for the same query text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from sinfonia.core import errors
from sinfonia.resources.models import Kind
from sinfonia.search import reference, selectors, syntax
from sinfonia.search.explain import Match
from sinfonia.web.common import actor, int_param, portal_view

PAGE_SIZE = 20
ICONS = {
    Kind.COLLECTION: "collection",
    Kind.FOLDER: "folder",
    Kind.FILESET: "files",
    Kind.FILE: "file-earmark",
}
# Offered by the advanced dialog's DICOM attribute field as you type (any other keyword, or a
# tag number, may be typed too): the indexed attributes first, then common header ones.
COMMON_DICOM_KEYWORDS = (
    "Modality",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "StudyInstanceUID",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "SeriesDate",
    "SeriesDescription",
    "SeriesNumber",
    "SeriesInstanceUID",
    "BodyPartExamined",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "ProtocolName",
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "StationName",
    "SliceThickness",
    "PixelSpacing",
    "Rows",
    "Columns",
    "KVP",
    "XRayTubeCurrent",
    "ExposureTime",
    "CTDIvol",
    "ConvolutionKernel",
    "ContrastBolusAgent",
    "ImageType",
    "AcquisitionDate",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "DoseUnits",
    "DoseType",
    "DoseSummationType",
    "RTPlanLabel",
    "StructureSetLabel",
    "SoftwareVersions",
)


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    marked: bool


@dataclass(frozen=True, slots=True)
class Crumb:
    id: int
    name: str


def segments(match: Match) -> list[Segment]:
    """``match.value`` cut into plain and highlighted pieces (``<mark>`` in the template)."""
    out: list[Segment] = []
    at = 0
    for start, end in sorted(match.highlights):
        start, end = max(start, at), min(end, len(match.value))
        if start >= end:
            continue
        if start > at:
            out.append(Segment(match.value[at:start], False))
        out.append(Segment(match.value[start:end], True))
        at = end
    if at < len(match.value):
        out.append(Segment(match.value[at:], False))
    return out


def _crumbs(hit: selectors.Hit) -> list[Crumb]:
    # The hit's path names its ancestors in order (names never hold "/").
    names = hit.path.strip("/").split("/")[:-1]
    crumbs = [Crumb(i, name) for i, name in zip(hit.node.ancestor_ids, names, strict=False)]
    if hit.node.kind == Kind.FILE and crumbs and crumbs[-1].name == hit.node.name:
        crumbs.pop()  # the fileset an upload into a folder wrapped the file in: no news
    return crumbs


def _link(name: str, **params: Any) -> str:
    return reverse(name) + "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


def results_context(request: HttpRequest, text: str) -> dict[str, Any]:
    """What the results partial shows for ``text`` with the request's sort and page."""
    sort = request.GET.get("sort", "")
    order = "desc" if request.GET.get("order") == "desc" else "asc"
    offset = int_param(request.GET.get("offset"), 0, 0, 2**62)
    limit = int_param(request.GET.get("limit"), PAGE_SIZE, 1, 100)
    context: dict[str, Any] = {"q": text, "sorts": selectors.SORTS}
    try:
        results = selectors.search(
            actor(request),
            text,
            sort=sort if sort in selectors.SORTS else "",
            descending=order == "desc",
            offset=offset,
            limit=limit,
        )
    except errors.Invalid as exc:
        context["error"] = exc.message
        context["share_url"] = _link("search", q=text)
        return context
    order = "desc" if results.descending else "asc"
    shared = {"q": text, "sort": sort if sort in selectors.SORTS else "", "order": order}
    if order == "asc":
        shared["order"] = ""
    hits = [
        {
            "node": hit.node,
            "icon": ICONS[Kind(hit.node.kind)],
            "path": hit.path,
            "crumbs": _crumbs(hit),
            "matches": [(m, segments(m)) for m in hit.matches],
        }
        for hit in results.items
    ]

    def page(at: int) -> str:
        return _link("search-results", **shared, offset=at or "", limit=limit)

    last = max(0, (results.total - 1) // limit * limit)
    context |= {
        "results": results,
        "hits": hits,
        "sort": results.sort,
        "order": order,
        "limit": limit,
        "first_shown": offset + 1 if hits else 0,
        "last_shown": offset + len(hits),
        "prev_url": page(max(0, offset - limit)) if offset > 0 else "",
        "next_url": page(offset + limit) if offset + limit < results.total else "",
        "first_url": page(0) if offset > 0 else "",
        "last_url": page(last) if offset < last else "",
        "share_url": _link("search", **shared),
    }
    return context


@portal_view
def search_page(request: HttpRequest) -> HttpResponse:
    """``/search/?q=…``: the results of a query on a page of their own (the link the results
    dialog's "Copy link" gives; it survives the log-in redirect). Without ``q``: the form and
    the query language's reference."""
    text = request.GET.get("q", "").strip()
    context: dict[str, Any] = {"q": text, "search_q": text, "field_help": reference.FIELD_HELP}
    if text:
        context |= results_context(request, text)
    return render(request, "web/search.html", context, status=400 if "error" in context else 200)


@portal_view
def search_results(request: HttpRequest) -> HttpResponse:
    """One page of results as an HTML fragment (htmx swaps it into the dialog or the page);
    a malformed query answers the fragment with its explanation."""
    text = request.GET.get("q", "").strip()
    if not text:
        return render(request, "web/partials/search_results.html", {"q": "", "empty": True})
    return render(request, "web/partials/search_results.html", results_context(request, text))


@portal_view
def advanced(request: HttpRequest) -> HttpResponse:
    """The advanced dialog's body (loaded when first opened): the row template, the field
    choices and the DICOM keywords offered as you type."""
    context = {"dicom_keywords": COMMON_DICOM_KEYWORDS, "types": ("dicom", *syntax.TYPES)}
    return render(request, "web/partials/search_advanced.html", context)
