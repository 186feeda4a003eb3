"""DICOM views of files in the tree: index state, tags, rendering, RT summaries, series order."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS
from sinfonia.core.errors import Invalid
from sinfonia.dicom import selectors as dicom
from sinfonia.dicom.errors import DicomError
from sinfonia.resources.selectors import get_node

router = Router(tags=["dicom"])


class InstanceOut(Schema):
    patient_id: str
    patient_name: str
    study_instance_uid: str
    study_date: str
    study_description: str
    series_instance_uid: str
    series_number: int | None
    series_description: str
    modality: str
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    transfer_syntax_uid: str
    rows: int | None
    columns: int | None
    number_of_frames: int | None


class FileIndexOut(Schema):
    state: str = Field(description="pending, dicom, dicomdir, not_dicom or error")
    error: str
    detail: dict[str, Any]
    instance: InstanceOut | None


def _instance(i: Any) -> dict[str, Any] | None:
    if i is None:
        return None
    series, study = i.series, i.series.study
    return {
        "patient_id": study.patient.patient_id,
        "patient_name": study.patient.patient_name,
        "study_instance_uid": study.study_instance_uid,
        "study_date": study.study_date,
        "study_description": study.study_description,
        "series_instance_uid": series.series_instance_uid,
        "series_number": series.series_number,
        "series_description": series.series_description,
        "modality": series.modality,
        "sop_instance_uid": i.sop_instance_uid,
        "sop_class_uid": i.sop_class_uid,
        "instance_number": i.instance_number,
        "transfer_syntax_uid": i.transfer_syntax_uid,
        "rows": i.rows,
        "columns": i.columns,
        "number_of_frames": i.number_of_frames,
    }


@router.get(
    "/files/{int:node_id}/dicom",
    response={200: FileIndexOut, **ERRORS},
    summary="Whether a file is indexed as DICOM, and its place in Patient/Study/Series",
)
def file_index(request: HttpRequest, node_id: int) -> dict[str, Any]:
    a = actor(request)
    index = dicom.file_index(a, get_node(a, node_id))
    return {
        "state": index.state,
        "error": index.error,
        "detail": index.detail,
        "instance": _instance(index.instance),
    }


@router.get(
    "/files/{int:node_id}/dicom/tags",
    response={200: list[dict[str, Any]], **ERRORS},
    summary="The full tag list (sequences nested, private tags by number); q= searches "
    "keywords, names, tag numbers and values",
)
def tags(request: HttpRequest, node_id: int, q: str = "") -> list[dict[str, Any]]:
    from sinfonia.dicom import tags as dicom_tags

    a = actor(request)
    ds = dicom.dataset(a, get_node(a, node_id), pixels=False, purpose="tags")
    listed = dicom_tags.tag_list(ds)
    return dicom_tags.search(listed, q) if q else listed


class RenderQuery(Schema):
    frame: int = Field(0, ge=0)
    window_center: float | None = None
    window_width: float | None = Field(None, gt=0)
    size: int | None = Field(None, ge=16, le=4096)


@router.get(
    "/files/{int:node_id}/dicom/rendered",
    response={200: None, **ERRORS},
    summary="A PNG of one frame with a sensible default window (or the one given)",
)
def rendered(request: HttpRequest, node_id: int, q: Query[RenderQuery]) -> HttpResponse:
    from sinfonia.dicom import render

    a = actor(request)
    ds = dicom.dataset(a, get_node(a, node_id), pixels=True, purpose="render")
    window = None
    if q.window_center is not None and q.window_width is not None:
        window = (q.window_center, q.window_width)
    try:
        png = render.render_png(ds, q.frame, window=window, size=q.size)
    except render.RenderError as exc:
        raise Invalid(DicomError.CANNOT_RENDER, str(exc)) from exc
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get(
    "/files/{int:node_id}/dicom/summary",
    response={200: dict[str, Any], **ERRORS},
    summary="A readable summary: ROIs of an RTSTRUCT, beams and prescription of an RTPLAN...",
)
def summary(request: HttpRequest, node_id: int) -> dict[str, Any]:
    from sinfonia.dicom import render

    a = actor(request)
    ds = dicom.dataset(a, get_node(a, node_id), pixels=False, purpose="summary")
    return render.rt_summary(ds)


class OrderedOut(Schema):
    file_id: int
    name: str
    sop_instance_uid: str
    instance_number: int | None
    number_of_frames: int | None


@router.get(
    "/dicom/series/{series_instance_uid}/instances",
    response={200: list[OrderedOut], **ERRORS},
    summary="A series' instances you may see, in display order (for scrolling)",
)
def series_instances(request: HttpRequest, series_instance_uid: str) -> list[dict[str, Any]]:
    return [
        {
            "file_id": i.file_id,
            "name": i.file.name,
            "sop_instance_uid": i.sop_instance_uid,
            "instance_number": i.instance_number,
            "number_of_frames": i.number_of_frames,
        }
        for i in dicom.series_instances(actor(request), series_instance_uid)
    ]


class DuplicateOut(Schema):
    sop_instance_uid: str
    file_ids: list[int]
    conflict: bool = Field(description="true when the files' bytes differ")


@router.get(
    "/dicom/duplicates",
    response=list[DuplicateOut],
    summary="SOP Instance UIDs carried by more than one file you may see",
)
def duplicates(request: HttpRequest) -> list[dict[str, Any]]:
    return dicom.duplicates(actor(request))
