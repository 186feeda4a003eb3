"""Retrieving DICOM instances by UID (WADO-RS; any retrieve by study, series or instance).

Who may retrieve what is who may read the files (`query.visible_instances`); an instance the
actor may not read answers like one that does not exist. A SOP Instance UID carried by several
files (a copy) is answered once. Every retrieve is audited as one event.
"""

from __future__ import annotations

from django.db.models import F, QuerySet

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import NotFound
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.models import Instance
from sinfonia.dicom.query import one_per_uid, visible_instances
from sinfonia.resources.selectors import path_of

# Display order (the ordering_key of `dicom.tags`): series, then Instance Number, then position
# along the slice normal, then UID; missing values last on every database.
ORDER = (
    F("series__series_number").asc(nulls_last=True),
    F("series_id").asc(),
    F("instance_number").asc(nulls_last=True),
    F("slice_position").asc(nulls_last=True),
    F("sop_instance_uid").asc(),
    F("pk").asc(),
)


def matching(
    actor: Actor,
    study_instance_uid: str,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
) -> QuerySet[Instance]:
    """The visible instances below the given UIDs, each SOP Instance UID once, in order."""
    qs = visible_instances(actor).filter(series__study__study_instance_uid=study_instance_uid)
    if series_instance_uid is not None:
        qs = qs.filter(series__series_instance_uid=series_instance_uid)
    if sop_instance_uid is not None:
        qs = qs.filter(sop_instance_uid=sop_instance_uid)
    return one_per_uid(actor, qs).order_by(*ORDER)


def retrieve(
    actor: Actor,
    study_instance_uid: str,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    *,
    purpose: str,
    headers: bool = False,
) -> list[Instance]:
    """The instances to send for a retrieve (with their files; ``headers`` loads the DICOM
    JSON headers too), after recording a ``dicom.retrieve`` audit event naming ``purpose``
    ("instances", "metadata", "frames", "rendered", ...).

    Errors: NotFound when nothing visible matches (missing and forbidden look the same).
    """
    qs = matching(actor, study_instance_uid, series_instance_uid, sop_instance_uid)
    qs = qs.select_related("file", "series__study")
    if not headers:
        qs = qs.defer("header")
    rows = list(qs)
    if not rows:
        what = "instance" if sop_instance_uid else "series" if series_instance_uid else "study"
        raise NotFound(DicomError.NOT_FOUND, f"No such {what}, or you may not see it.")
    single = rows[0].file if len(rows) == 1 else None
    record(
        actor,
        "dicom.retrieve",
        single,
        path=path_of(single) if single is not None else "",
        purpose=purpose,
        study=study_instance_uid,
        series=series_instance_uid or "",
        instance=sop_instance_uid or "",
        instances=len(rows),
    )
    return rows
