"""QIDO-RS, the Search transaction (PS3.18 §10.6): studies, series and instances as DICOM JSON.

Matching is `dicom.query.search` (visible rows only); related counts and modalities are
`dicom.query.counts`. This module turns query parameters into filters (§8.3.4) and rows into
the attributes each resource returns (§10.6.3.3).
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import F, Min, QuerySet
from django.http import HttpRequest, HttpResponse
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from sinfonia.core.context import Actor
from sinfonia.dicom import query
from sinfonia.dicom.dicomweb.common import (
    DICOM_JSON,
    accepts,
    bad_request,
    endpoint,
    json_response,
    not_acceptable,
    service_root,
    url,
)
from sinfonia.dicom.models import Instance, Series, Study
from sinfonia.dicom.services.retrieve import ORDER as INSTANCE_ORDER

MAX_RESULTS = 1000  # maxResults of PS3.18 §8.3.4.4.1
RESERVED = {"limit", "offset", "includefield", "fuzzymatching", "accept", "charset"}
TAG = re.compile(r"^[0-9A-Fa-f]{8}$")

# What each resource returns by default (PS3.18 Tables 10.6.3-3 to 10.6.3-5), from the index.
STUDY_KEYS = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
)
SERIES_KEYS = (
    "Modality",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "BodyPartExamined",
    "SeriesDate",
)
INSTANCE_KEYS = ("SOPClassUID", "SOPInstanceUID", "InstanceNumber")

# Attributes of the header by Information Entity (PS3.3 Patient, General Study, Patient Study,
# General Series, General Equipment, Frame of Reference modules), for ``includefield`` at the
# study and series levels: includefield=all returns those of the level, and attributes of a
# lower level are never returned (PS3.18 §10.6.3.3.1). Anything unlisted is instance level.
PATIENT_LEVEL = {
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "EthnicGroup",
    "PatientComments",
    "PatientSpeciesDescription",
    "PatientBreedDescription",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
}
STUDY_LEVEL = PATIENT_LEVEL | {
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyDescription",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "RequestingService",
    "ProcedureCodeSequence",
    "ReasonForPerformedProcedureCodeSequence",
    "AdmittingDiagnosesDescription",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "Occupation",
    "AdditionalPatientHistory",
    "ClinicalTrialSponsorName",
    "ClinicalTrialProtocolID",
    "ClinicalTrialProtocolName",
    "ClinicalTrialSiteID",
    "ClinicalTrialSiteName",
    "ClinicalTrialSubjectID",
    "ClinicalTrialTimePointID",
    "TimezoneOffsetFromUTC",
}
SERIES_LEVEL = {
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "SeriesDescription",
    "SeriesDescriptionCodeSequence",
    "Laterality",
    "PerformingPhysicianName",
    "ProtocolName",
    "OperatorsName",
    "BodyPartExamined",
    "PatientPosition",
    "AnatomicalOrientationType",
    "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepDescription",
    "RequestAttributesSequence",
    "Manufacturer",
    "InstitutionName",
    "InstitutionAddress",
    "StationName",
    "InstitutionalDepartmentName",
    "ManufacturerModelName",
    "DeviceSerialNumber",
    "SoftwareVersions",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
}
LEVEL_RANK = {"study": 1, "series": 2, "instance": 3}
STUDY_FIGURES = {"ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"}


def _attribute_level(keyword: str) -> int:
    known = query.ATTRIBUTES.get(keyword)
    if known is not None:
        return max(query.RANK[known.level], 1)
    if keyword in STUDY_LEVEL:
        return 1
    return 2 if keyword in SERIES_LEVEL else 3


def _keyword(key: str) -> str:
    """A query key as a keyword: keywords stay, tags (``0020000D``) are looked up."""
    if "." in key:
        raise bad_request(f"Matching inside sequences ({key!r}) is not supported.")
    if TAG.match(key):
        keyword = keyword_for_tag(int(key, 16))
        if not keyword:
            raise bad_request(f"Tag {key} is not a public attribute this server matches on.")
        return keyword
    if not tag_for_keyword(key):
        raise bad_request(f"{key!r} is neither a DICOM keyword nor a tag.")
    return key


def _uint(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise bad_request(f"{name} must be an unsigned integer, not {raw!r}.")
    return int(raw)


def _includes(request: HttpRequest) -> tuple[set[str], bool]:
    """(keywords, all) of the includefield parameters (PS3.18 §8.3.4.3); private tags stay
    tags (instance level: their values come from the instance's header)."""
    keywords: set[str] = set()
    include_all = False
    for value in request.GET.getlist("includefield"):
        for item in value.split(","):
            item = item.strip()
            if item.lower() == "all":
                include_all = True
            elif TAG.match(item) and not keyword_for_tag(int(item, 16)):
                keywords.add(item.upper())  # private: returned from the header when present
            elif item:
                keywords.add(_keyword(item))
    return keywords, include_all


def _filters(request: HttpRequest, path: dict[str, str]) -> dict[str, str]:
    """Matching keys (PS3.18 §8.3.4.1): keyword or tag, each once; UID lists are separated by
    commas on the web and by backslashes in DICOM (PS3.4 C.2.2.2.2)."""
    filters: dict[str, str] = {}
    for key in request.GET:
        if key.lower() in RESERVED or key.startswith("_"):
            continue
        values = request.GET.getlist(key)
        if len(values) > 1:
            raise bad_request(f"{key} is given more than once.")
        keyword = _keyword(key)
        if keyword in filters:
            raise bad_request(f"{keyword} is given more than once.")
        value = values[0]
        if dictionary_VR(keyword) == "UI":
            value = value.replace(",", "\\")
        filters[keyword] = value
    filters.update(path)  # the resource's own UIDs (e.g. /studies/{study}/series) win
    return filters


# -- DICOM JSON values (PS3.18 §F.2) ----------------------------------------------------------


def element(keyword: str, value: Any, vr: str | None = None) -> tuple[str, dict[str, Any]]:
    """(tag, DICOM JSON element) for a value from the index; empty values have no "Value"."""
    tag = f"{tag_for_keyword(keyword):08X}"
    vr = vr or dictionary_VR(keyword)
    if value is None or value == "" or value == []:
        return tag, {"vr": vr}
    if vr == "PN":
        names = []
        for name in str(value).split("\\"):
            groups = name.split("=")
            keys = ("Alphabetic", "Ideographic", "Phonetic")
            names.append({k: g for k, g in zip(keys, groups, strict=False) if g})
        return tag, {"vr": vr, "Value": names}
    if vr in ("IS", "US", "UL", "SS", "SL"):
        return tag, {"vr": vr, "Value": [int(value)]}
    if isinstance(value, list):
        return tag, {"vr": vr, "Value": [str(v) for v in value]}
    text = str(value)
    return tag, {"vr": vr, "Value": text.split("\\") if vr == "CS" else [text]}


def _index_value(row: Any, level: str, keyword: str) -> Any:
    attr = query.ATTRIBUTES[keyword]
    obj = row
    for step in query.PATHS[(level, attr.level)].split("__"):
        if step:
            obj = getattr(obj, step)
    return getattr(obj, attr.field)


# -- Searches ---------------------------------------------------------------------------------

ORDERS: dict[str, tuple[Any, ...]] = {
    "study": (F("study_date").desc(), F("study_time").desc(), F("pk").desc()),
    "series": (
        F("study_id").asc(),
        F("series_number").asc(nulls_last=True),
        F("pk").asc(),
    ),
    "instance": INSTANCE_ORDER,
}
RELATED = {
    "study": ("patient",),
    "series": ("study__patient",),
    "instance": ("series__study__patient",),
}


def _search(
    request: HttpRequest, actor: Actor, level: query.Level, path: dict[str, str]
) -> HttpResponse:
    if not accepts(request, DICOM_JSON, "application/json"):
        raise not_acceptable("Search results are sent as application/dicom+json only.")
    filters = _filters(request, path)
    includes, include_all = _includes(request)
    limit = min(_uint(request, "limit", MAX_RESULTS), MAX_RESULTS)
    offset = _uint(request, "offset", 0)
    fuzzy = request.GET.get("fuzzymatching", "false").lower() == "true"

    qs: QuerySet[Any] = query.search(actor, level, filters, fuzzy=fuzzy)
    if level == "instance":
        qs = query.one_per_uid(actor, qs)
    qs = qs.select_related(*RELATED[level]).order_by(*ORDERS[level])
    rows = list(qs[offset : offset + limit + 1]) if limit else []
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return HttpResponse(status=204)  # PS3.18 §8.3.4.4.1: no results, no payload
    results = _encode(request, actor, level, rows, filters, includes, include_all, path)
    response = json_response(results)
    if more:
        remaining = qs.count() - offset - len(rows)
        response["Warning"] = (
            f"299 {service_root(request)}: There are {remaining} additional results "
            "that can be requested"
        )
    return response


def _representatives(actor: Actor, level: str, pks: list[int]) -> dict[int, dict[str, Any]]:
    """The header of one visible instance per study or series row (its first indexed)."""
    below = query.INSTANCES_BELOW[level]
    firsts = (
        query.visible_instances(actor)
        .filter(**{f"{below}__in": pks})
        .values(below)
        .annotate(first=Min("pk"))
    )
    by_pk = {row["first"]: row[below] for row in firsts}
    headers = Instance.objects.filter(pk__in=list(by_pk)).values_list("pk", "header")
    return {by_pk[pk]: header for pk, header in headers}


def _encode(
    request: HttpRequest,
    actor: Actor,
    level: query.Level,
    rows: list[Any],
    filters: dict[str, str],
    includes: set[str],
    include_all: bool,
    path: dict[str, str],
) -> list[dict[str, Any]]:
    rank = LEVEL_RANK[level]
    relational = not path  # /series and /instances also carry the study's attributes
    keys: list[str] = list(INSTANCE_KEYS) if level == "instance" else []
    if level in ("series", "instance"):
        keys += SERIES_KEYS if (level == "series" or not path or len(path) == 1) else ()
        keys.append("StudyInstanceUID")
    if level == "study" or relational:
        keys += STUDY_KEYS
    keys += [k for k in filters if k in query.ATTRIBUTES]
    keys += [k for k in includes if k in query.ATTRIBUTES and _attribute_level(k) <= rank]
    keys = list(dict.fromkeys(keys))
    from_header = {k for k in includes if k not in query.ATTRIBUTES and _attribute_level(k) <= rank}

    pks = [row.pk for row in rows]
    counts = query.counts(actor, level, pks) if level != "instance" else {}
    study_counts = counts if level == "study" else {}
    if level != "study" and (relational or STUDY_FIGURES & includes):
        study_counts = query.counts(actor, "study", list({_study(row).pk for row in rows}))
    series_counts = counts if level == "series" else {}
    if level == "instance" and len(path) < 2:
        series_counts = query.counts(actor, "series", list({row.series_id for row in rows}))
    headers: dict[int, dict[str, Any]] = (
        _representatives(actor, level, pks)
        if level != "instance" and (from_header or include_all)
        else {}
    )

    results = []
    for row in rows:
        header: dict[str, Any] = row.header if level == "instance" else headers.get(row.pk, {})
        out: dict[str, Any] = {}
        if include_all:
            out.update(_level_elements(header, rank if level != "instance" else 0))
        for keyword in from_header:
            tag = keyword if TAG.match(keyword) else f"{tag_for_keyword(keyword):08X}"
            if tag in header:
                out[tag] = header[tag]
        for keyword in keys:
            tag, value = element(keyword, _index_value(row, level, keyword))
            out[tag] = value
        figures = study_counts.get(_study(row).pk)
        if figures is not None:
            out.update(
                dict(
                    [
                        element("ModalitiesInStudy", figures["modalities"], "CS"),
                        element("NumberOfStudyRelatedSeries", figures["series"], "IS"),
                        element("NumberOfStudyRelatedInstances", figures["instances"], "IS"),
                    ]
                )
            )
        series_pk = row.pk if level == "series" else getattr(row, "series_id", None)
        if series_pk in series_counts:
            number = series_counts[series_pk]["instances"]
            out.update([element("NumberOfSeriesRelatedInstances", number, "IS")])
        if level == "instance":
            out.update(_instance_extras(row, header))
        out.update([element("InstanceAvailability", "ONLINE"), _retrieve_url(request, level, row)])
        results.append(dict(sorted(out.items())))
    return results


def _study(row: Study | Series | Instance) -> Study:
    if isinstance(row, Instance):
        return row.series.study
    return row.study if isinstance(row, Series) else row


def _level_elements(header: dict[str, Any], rank: int) -> dict[str, Any]:
    """The header's attributes of the level ``rank`` and above (0: all of them)."""
    if not rank:
        return dict(header)
    out = {}
    for tag, value in header.items():
        keyword = keyword_for_tag(int(tag, 16))
        if keyword and _attribute_level(keyword) <= rank:
            out[tag] = value
    return out


def _instance_extras(row: Instance, header: dict[str, Any]) -> dict[str, Any]:
    extras = dict(
        [
            element("Rows", row.rows, "US"),
            element("Columns", row.columns, "US"),
            element("NumberOfFrames", row.number_of_frames, "IS"),
            element("SeriesInstanceUID", row.series.series_instance_uid),
            element("AvailableTransferSyntaxUID", row.transfer_syntax_uid or None),
        ]
    )
    bits = header.get("00280100")
    if bits is not None:
        extras["00280100"] = bits
    return extras


def _retrieve_url(request: HttpRequest, level: str, row: Any) -> tuple[str, dict[str, Any]]:
    if level == "study":
        target = url(request, "study", row.study_instance_uid)
    elif level == "series":
        target = url(request, "series", row.study.study_instance_uid, row.series_instance_uid)
    else:
        series = row.series
        target = url(
            request,
            "instance",
            series.study.study_instance_uid,
            series.series_instance_uid,
            row.sop_instance_uid,
        )
    return element("RetrieveURL", target, "UR")


# -- Views ------------------------------------------------------------------------------------


@endpoint("GET")
def search_studies(request: HttpRequest, actor: Actor) -> HttpResponse:
    return _search(request, actor, "study", {})


@endpoint("GET")
def search_all_series(request: HttpRequest, actor: Actor) -> HttpResponse:
    return _search(request, actor, "series", {})


@endpoint("GET")
def search_study_series(request: HttpRequest, actor: Actor, study: str) -> HttpResponse:
    return _search(request, actor, "series", {"StudyInstanceUID": study})


@endpoint("GET")
def search_all_instances(request: HttpRequest, actor: Actor) -> HttpResponse:
    return _search(request, actor, "instance", {})


@endpoint("GET")
def search_study_instances(request: HttpRequest, actor: Actor, study: str) -> HttpResponse:
    return _search(request, actor, "instance", {"StudyInstanceUID": study})


@endpoint("GET")
def search_series_instances(
    request: HttpRequest, actor: Actor, study: str, series: str
) -> HttpResponse:
    return _search(
        request, actor, "instance", {"StudyInstanceUID": study, "SeriesInstanceUID": series}
    )
