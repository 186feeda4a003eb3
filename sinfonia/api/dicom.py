"""DICOM views of files in the tree: index state, tags, rendering, RT summaries, series order;
the remote AEs of the DIMSE front-end (site administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from sinfonia.accounts.services import users
from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS
from sinfonia.core.errors import Invalid
from sinfonia.dicom import selectors as dicom
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.models import RemoteAE
from sinfonia.dicom.services import remote_aes
from sinfonia.resources.selectors import get_node, path_of

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
    # pixels: an RTDOSE summary reports its maximum dose (plans and structures have none)
    ds = dicom.dataset(a, get_node(a, node_id), pixels=True, purpose="summary")
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


# -- Remote AEs (DIMSE) -------------------------------------------------------------------------


class RemoteAEOut(Schema):
    id: int
    ae_title: str
    user_id: int | None = Field(description="served as this user when it calls in")
    username: str | None
    host: str
    port: int | None
    move_destination: bool = Field(description="host and port set: C-MOVE may send to it")
    destination_id: int | None = Field(description="where its C-STORE lands (None: /~user/DICOM)")
    destination_path: str | None
    organise: bool
    description: str
    created_at: datetime

    @staticmethod
    def of(r: RemoteAE) -> dict[str, Any]:
        return {
            "id": r.id,
            "ae_title": r.ae_title,
            "user_id": r.user_id,
            "username": r.user.username if r.user else None,
            "host": r.host,
            "port": r.port,
            "move_destination": r.is_move_destination,
            "destination_id": r.destination_id,
            "destination_path": path_of(r.destination) if r.destination else None,
            "organise": r.organise,
            "description": r.description,
            "created_at": r.created_at,
        }


class RemoteAEIn(Schema):
    ae_title: str = Field(description="1-16 characters (DICOM VR AE)")
    user_id: int | None = None
    host: str = ""
    port: int | None = None
    destination_id: int | None = None
    organise: bool = True
    description: str = ""


class RemoteAEPatch(Schema):
    ae_title: str | None = None
    user_id: int | None = None
    host: str | None = None
    port: int | None = None
    destination_id: int | None = None
    organise: bool | None = None
    description: str | None = None


@router.get(
    "/dicom/remote-aes",
    response={200: list[RemoteAEOut], **ERRORS},
    summary="Remote DICOM AEs: calling AE title → user, C-MOVE destinations",
)
def list_remote_aes(request: HttpRequest) -> list[dict[str, Any]]:
    return [RemoteAEOut.of(r) for r in remote_aes.list_remote_aes(actor(request))]


@router.post("/dicom/remote-aes", response={201: RemoteAEOut, **ERRORS}, summary="Add a remote AE")
def add_remote_ae(request: HttpRequest, body: RemoteAEIn) -> Status[dict[str, Any]]:
    a = actor(request)
    remote_aes.list_remote_aes(a)  # site administrators only, before looking anything up
    remote = remote_aes.add_remote_ae(
        a,
        body.ae_title,
        user=users.get_user(a, body.user_id) if body.user_id is not None else None,
        host=body.host,
        port=body.port,
        destination=get_node(a, body.destination_id) if body.destination_id else None,
        organise=body.organise,
        description=body.description,
    )
    return Status(201, RemoteAEOut.of(remote))


@router.get("/dicom/remote-aes/{int:remote_id}", response={200: RemoteAEOut, **ERRORS})
def get_remote_ae(request: HttpRequest, remote_id: int) -> dict[str, Any]:
    return RemoteAEOut.of(remote_aes.get_remote_ae(actor(request), remote_id))


@router.patch(
    "/dicom/remote-aes/{int:remote_id}",
    response={200: RemoteAEOut, **ERRORS},
    summary="Change a remote AE (null user_id or destination_id clears it)",
)
def update_remote_ae(request: HttpRequest, remote_id: int, body: RemoteAEPatch) -> dict[str, Any]:
    a = actor(request)
    remote = remote_aes.get_remote_ae(a, remote_id)
    given = body.dict(exclude_unset=True)
    changes: dict[str, Any] = {
        k: v for k, v in given.items() if k not in ("user_id", "destination_id") and v is not None
    }
    if "user_id" in given:
        changes["user"] = users.get_user(a, given["user_id"]) if given["user_id"] else None
    if "destination_id" in given:
        dest = given["destination_id"]
        changes["destination"] = get_node(a, dest) if dest else None
    if "port" in given and given["port"] is None:
        changes["port"] = None
    if "host" in given and given["host"] is None:
        changes["host"] = ""
    return RemoteAEOut.of(remote_aes.update_remote_ae(a, remote, **changes))


@router.delete("/dicom/remote-aes/{int:remote_id}", response={204: None, **ERRORS})
def delete_remote_ae(request: HttpRequest, remote_id: int) -> Status[None]:
    a = actor(request)
    remote_aes.delete_remote_ae(a, remote_aes.get_remote_ae(a, remote_id))
    return Status(204, None)
