"""Matching DICOM query keys against the index: the one implementation behind QIDO-RS
(PS3.18 §8.3.4) and C-FIND (PS3.4 C.2.2.2), filtered by what the actor may read.

Supported matching: single value (exact; case-insensitive for PN), universal (empty value),
wildcard (``*`` and ``?``, not for UIDs, dates and times), UID list (values separated by
``\\``), and range matching for DA/TM/DT (``a-b``, ``-b``, ``a-``). Unknown keys raise
`Invalid`, so a client learns that its filter was not applied rather than getting everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Count, Exists, Model, OuterRef, Q, QuerySet, Subquery

from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.models import Instance, Patient, Series, Study
from sinfonia.resources import access
from sinfonia.resources.models import Level as Access

Level = Literal["patient", "study", "series", "instance"]
RANK = {"patient": 0, "study": 1, "series": 2, "instance": 3}
MODELS: dict[str, type[Model]] = {
    "patient": Patient,
    "study": Study,
    "series": Series,
    "instance": Instance,
}
# From each queried level down (or up) to the level that holds an attribute.
PATHS: dict[tuple[str, str], str] = {
    ("patient", "patient"): "",
    ("study", "patient"): "patient__",
    ("study", "study"): "",
    ("series", "patient"): "study__patient__",
    ("series", "study"): "study__",
    ("series", "series"): "",
    ("instance", "patient"): "series__study__patient__",
    ("instance", "study"): "series__study__",
    ("instance", "series"): "series__",
    ("instance", "instance"): "",
}
# Instance rows below a row of each level (for visibility and counts).
INSTANCES_BELOW = {
    "patient": "series__study__patient",
    "study": "series__study",
    "series": "series",
    "instance": "pk",
}


@dataclass(frozen=True, slots=True)
class Attribute:
    level: str
    field: str
    vr: str


ATTRIBUTES: dict[str, Attribute] = {
    "PatientID": Attribute("patient", "patient_id", "LO"),
    "IssuerOfPatientID": Attribute("patient", "issuer", "LO"),
    "PatientName": Attribute("patient", "patient_name", "PN"),
    "PatientBirthDate": Attribute("patient", "birth_date", "DA"),
    "PatientSex": Attribute("patient", "sex", "CS"),
    "StudyInstanceUID": Attribute("study", "study_instance_uid", "UI"),
    "StudyDate": Attribute("study", "study_date", "DA"),
    "StudyTime": Attribute("study", "study_time", "TM"),
    "AccessionNumber": Attribute("study", "accession_number", "SH"),
    "StudyID": Attribute("study", "study_id", "SH"),
    "StudyDescription": Attribute("study", "study_description", "LO"),
    "ReferringPhysicianName": Attribute("study", "referring_physician_name", "PN"),
    "SeriesInstanceUID": Attribute("series", "series_instance_uid", "UI"),
    "Modality": Attribute("series", "modality", "CS"),
    "SeriesNumber": Attribute("series", "series_number", "IS"),
    "SeriesDescription": Attribute("series", "series_description", "LO"),
    "BodyPartExamined": Attribute("series", "body_part_examined", "CS"),
    "SeriesDate": Attribute("series", "series_date", "DA"),
    "SOPInstanceUID": Attribute("instance", "sop_instance_uid", "UI"),
    "SOPClassUID": Attribute("instance", "sop_class_uid", "UI"),
    "InstanceNumber": Attribute("instance", "instance_number", "IS"),
}
# Keys that are answered but computed, not matched against a column.
COMPUTED = {
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "NumberOfSeriesRelatedInstances",
    "NumberOfPatientRelatedStudies",
    "QueryRetrieveLevel",
    "SpecificCharacterSet",
    "RetrieveAETitle",
    "InstanceAvailability",
    "TimezoneOffsetFromUTC",
}


def _bad(message: str) -> Invalid:
    return Invalid(DicomError.BAD_QUERY, message)


def _wildcard(value: str) -> str:
    return "^" + re.escape(value).replace(r"\*", ".*").replace(r"\?", ".") + "$"


def _range(path: str, value: str) -> Q:
    low, _, high = value.partition("-")
    cond = Q()
    if low:
        cond &= Q(**{f"{path}__gte": low})
    if high:
        cond &= Q(**{f"{path}__lte": high + ("\uffff" if len(high) < 8 else "")})
    return cond


def match(path: str, vr: str, value: str, *, fuzzy: bool = False) -> Q:
    """The condition for one key (PS3.4 C.2.2.2). An empty value matches everything."""
    value = value.strip()
    if value in ("", "*"):
        return Q()
    if vr == "UI":
        uids = [v.strip() for v in value.split("\\") if v.strip()]
        return Q(**{f"{path}__in": uids}) if len(uids) > 1 else Q(**{path: uids[0]})
    if vr in ("DA", "TM", "DT"):
        if "-" in value:
            return _range(path, value.replace(":", "") if vr == "TM" else value)
        return Q(**{path: value.replace(":", "") if vr == "TM" else value})
    if vr == "IS":
        try:
            return Q(**{path: int(value)})
        except ValueError as exc:
            raise _bad(f"{value!r} is not a number.") from exc
    if "\\" in value and vr == "CS":
        return Q(**{f"{path}__in": value.split("\\")})
    insensitive = vr == "PN" or fuzzy
    if "*" in value or "?" in value:
        return Q(**{f"{path}__{'iregex' if insensitive else 'regex'}": _wildcard(value)})
    if fuzzy and vr == "PN":
        return Q(**{f"{path}__icontains": value})
    return Q(**{f"{path}__{'iexact' if insensitive else 'exact'}": value})


def visible_instances(actor: Actor) -> QuerySet[Instance]:
    """Instances whose files ``actor`` may read (deleted files never count)."""
    return access.visible_via(actor, Access.READ, Instance.objects.all(), "file")


def one_per_uid(actor: Actor, qs: QuerySet[Instance]) -> QuerySet[Instance]:
    """``qs`` (instances) with one row per SOP Instance UID: a UID that several visible files
    carry (a copy) is answered once, by its oldest visible row (docs/decisions/0004)."""
    first = (
        visible_instances(actor)
        .filter(sop_instance_uid=OuterRef("sop_instance_uid"))
        .order_by("pk")
        .values("pk")[:1]
    )
    return qs.filter(pk=Subquery(first))


def search(
    actor: Actor,
    level: Level,
    filters: dict[str, str],
    *,
    fuzzy: bool = False,
) -> QuerySet[Any]:
    """Rows of ``level`` matching ``filters`` (DICOM keyword → value) that have at least one
    instance ``actor`` may read. Keys of levels below ``level`` are refused, as in PS3.4."""
    model = MODELS[level]
    below = INSTANCES_BELOW[level]
    seen = visible_instances(actor).filter(**{below: OuterRef("pk")})
    qs: QuerySet[Any] = model.objects.filter(Exists(seen))  # type: ignore[attr-defined]
    for keyword, value in filters.items():
        if keyword in COMPUTED:
            if keyword == "ModalitiesInStudy" and value.strip() and level == "study":
                modalities = [m for m in re.split(r"[\\,]", value) if m]
                qs = qs.filter(
                    Exists(Series.objects.filter(study=OuterRef("pk"), modality__in=modalities))
                )
            continue
        attr = ATTRIBUTES.get(keyword)
        if attr is None:
            raise _bad(f"Matching on {keyword!r} is not supported.")
        if RANK[attr.level] > RANK[level]:
            raise _bad(f"{keyword} is an attribute of the {attr.level} level, not {level}.")
        qs = qs.filter(match(PATHS[(level, attr.level)] + attr.field, attr.vr, value, fuzzy=fuzzy))
    return qs


# From an instance to the patient, study or series row it counts for.
OWNER = {"patient": "series__study__patient_id", "study": "series__study_id", "series": "series_id"}


def counts(actor: Actor, level: Level, pks: list[int]) -> dict[int, dict[str, Any]]:
    """Visible related counts and modalities for a page of patient, study or series rows.

    One query for any page size: the visible instances below the rows per series, counted
    off the covering index ``dicom_instance_counts`` (series, SOP Instance UID, file) so that
    no instance row, with its header, is read. A row's instance count is the sum over its
    series of their distinct SOP Instance UIDs (a copy of an instance is counted once; one
    UID in two series would count twice, which DICOM does not allow).
    """
    out: dict[int, dict[str, Any]] = {
        pk: {"instances": 0, "series": 0, "modalities": []} for pk in pks
    }
    if not pks:
        return out
    owner = OWNER[level]
    per_series = (
        visible_instances(actor)
        .filter(**{f"{owner}__in": pks})
        .values_list("series_id", owner, "series__modality")
        .annotate(n=Count("sop_instance_uid", distinct=True))
        .order_by("series_id")
    )
    for _, row_pk, modality, n in per_series:
        figures = out[row_pk]
        figures["instances"] += n
        figures["series"] += 1
        if modality and modality not in figures["modalities"]:
            figures["modalities"].append(modality)
    return out


# Unique keys per Query/Retrieve level (PS3.4 C.6.1.1 / C.6.2.1): what C-MOVE and C-GET name.
UNIQUE_KEYS: dict[str, str] = {
    "patient": "PatientID",
    "study": "StudyInstanceUID",
    "series": "SeriesInstanceUID",
    "instance": "SOPInstanceUID",
}


def retrieve_instances(actor: Actor, level: Level, keys: dict[str, str]) -> QuerySet[Instance]:
    """The visible instances a C-MOVE/C-GET names: the unique keys of ``level`` and the levels
    above it (baseline, non-relational retrieve, PS3.4 C.4.2.2.1 / C.4.3.2.1), each a single
    value or a list of UIDs. One row per SOP Instance UID, in series and instance order."""
    given = {k: v for k, v in keys.items() if k in UNIQUE_KEYS.values() and v.strip()}
    if UNIQUE_KEYS[level] not in given:
        raise _bad(f"A {level}-level retrieve needs {UNIQUE_KEYS[level]}.")
    for keyword in given:
        if RANK[ATTRIBUTES[keyword].level] > RANK[level]:
            raise _bad(f"{keyword} is an attribute of the {ATTRIBUTES[keyword].level} level.")
        if "*" in given[keyword] or "?" in given[keyword]:
            raise _bad(f"{keyword} must name values, not a wildcard pattern, in a retrieve.")
    qs = search(actor, "instance", given)
    return (
        one_per_uid(actor, qs)
        .select_related("file", "series__study")
        .order_by("series__study_id", "series_id", "instance_number", "pk")
    )


def study_counts(actor: Actor, patient_pks: list[int]) -> dict[int, int]:
    """Number of studies with a visible instance per patient (NumberOfPatientRelatedStudies)."""
    below = INSTANCES_BELOW["patient"]
    rows = (
        visible_instances(actor)
        .filter(**{f"{below}__in": patient_pks})
        .values(below)
        .annotate(n=Count("series__study", distinct=True))
    )
    out = dict.fromkeys(patient_pks, 0)
    for row in rows:
        out[row[below]] = row["n"]
    return out
