"""Reads of the DICOM index that the REST API and the portal share; all go through access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydicom
from django.db.models import Count, QuerySet
from pydicom.dataset import Dataset

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.models import IndexState, Instance, State
from sinfonia.dicom.query import visible_instances
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.selectors import path_of
from sinfonia.storage import blobstore


@dataclass(frozen=True, slots=True)
class FileIndex:
    state: str
    error: str
    detail: dict[str, Any]
    instance: Instance | None


def file_index(actor: Actor, node: Node) -> FileIndex:
    """What the indexer found in a file (the API's "is it indexed yet?")."""
    access.require(actor, Level.READ, node)
    if node.kind != Kind.FILE:
        raise Invalid(ResourceError.NOT_A_FILE, f"{node.name!r} is not a file.")
    state = IndexState.objects.filter(file=node).first()
    instance = Instance.objects.select_related("series__study__patient").filter(file=node).first()
    if state is None:
        return FileIndex(state=State.PENDING, error="", detail={}, instance=instance)
    return FileIndex(state=state.state, error=state.error, detail=state.detail, instance=instance)


def dataset(actor: Actor, node: Node, *, pixels: bool, purpose: str) -> Dataset:
    """The parsed DICOM of a readable file; reading it is audited like a download."""
    index = file_index(actor, node)
    if index.state not in (State.DICOM, State.PENDING):
        raise Invalid(DicomError.NOT_DICOM, f"{node.name!r} is not an indexed DICOM file.")
    assert node.blob_id is not None
    try:
        ds = pydicom.dcmread(blobstore.blob_path(node.blob_id), stop_before_pixels=not pixels)
    except Exception as exc:  # unreadable content is the file's problem, reported as such
        raise Invalid(DicomError.CORRUPT, f"Unreadable DICOM: {exc}") from exc
    record(actor, f"dicom.{purpose}", node, path=path_of(node))
    return ds


def series_instances(actor: Actor, series_instance_uid: str) -> QuerySet[Instance]:
    """The visible instances of a series in display order: Instance Number, then position
    along the slice normal, then UID — never the file name."""
    qs = visible_instances(actor).filter(series__series_instance_uid=series_instance_uid)
    if not qs.exists():
        raise NotFound(DicomError.NOT_FOUND, "No such series, or you may not see it.")
    return qs.select_related("file").order_by(
        "instance_number", "slice_position", "sop_instance_uid"
    )


def duplicates(actor: Actor) -> list[dict[str, Any]]:
    """SOP Instance UIDs that more than one visible file carries: copies (same bytes) or
    conflicts (different bytes under one UID)."""
    seen = visible_instances(actor)
    uids = (
        seen.values("sop_instance_uid")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("sop_instance_uid", flat=True)[:1000]
    )
    out = []
    for uid in uids:
        rows = list(seen.filter(sop_instance_uid=uid).values_list("file_id", "file__blob_id"))
        out.append(
            {
                "sop_instance_uid": uid,
                "file_ids": [f for f, _ in rows],
                "conflict": len({b for _, b in rows}) > 1,
            }
        )
    return out
