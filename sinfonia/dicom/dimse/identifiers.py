"""C-FIND / C-MOVE / C-GET identifiers (PS3.4 C.4.1.1.3, C.6): the request's keys as
`sinfonia.dicom.query` filters, and index rows as response identifiers.

Matching is `query.search`, the one implementation behind QIDO-RS and C-FIND. Keys with an
empty value are return keys. A key with a value that the index cannot match is refused with
0xC000 rather than ignored, so that a client never takes an unfiltered answer for a filtered
one (docs/dicom-conformance.md).
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from sinfonia.core.errors import Invalid
from sinfonia.dicom import query
from sinfonia.dicom.errors import DicomError

# Query/Retrieve Level (0008,0052) values per information model (PS3.4 C.6.1, C.6.2).
LEVELS: dict[str, query.Level] = {
    "PATIENT": "patient",
    "STUDY": "study",
    "SERIES": "series",
    "IMAGE": "instance",
}
PATIENT_ROOT = "patient"
STUDY_ROOT = "study"
# SOP Class UIDs (PS3.4 Table B.5-1, C.6.1.3, C.6.2.3); pynetdicom's names for them are made at
# run time, where the type checker cannot see them.
VERIFICATION = "1.2.840.10008.1.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
MODELS = {
    PATIENT_ROOT_FIND: PATIENT_ROOT,
    PATIENT_ROOT_MOVE: PATIENT_ROOT,
    PATIENT_ROOT_GET: PATIENT_ROOT,
    STUDY_ROOT_FIND: STUDY_ROOT,
    STUDY_ROOT_MOVE: STUDY_ROOT,
    STUDY_ROOT_GET: STUDY_ROOT,
}
# Not keys: answered (or ignored) by the service itself.
NOT_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet", "TimezoneOffsetFromUTC"}
# Related-counts keys per level, and which figure of `query.counts` answers them.
COUNTED: dict[str, tuple[str, str]] = {
    "NumberOfPatientRelatedSeries": ("patient", "series"),
    "NumberOfPatientRelatedInstances": ("patient", "instances"),
    "NumberOfStudyRelatedSeries": ("study", "series"),
    "NumberOfStudyRelatedInstances": ("study", "instances"),
    "NumberOfSeriesRelatedInstances": ("series", "instances"),
}
SELECT_RELATED = {
    "patient": (),
    "study": ("patient",),
    "series": ("study__patient",),
    "instance": ("series__study__patient",),
}


def _bad(message: str) -> Invalid:
    return Invalid(DicomError.BAD_QUERY, message)


def level_of(identifier: Dataset, model: str) -> query.Level:
    """The level an identifier queries, checked against the information model (PS3.4 C.6)."""
    raw = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    level = LEVELS.get(raw)
    if level is None:
        raise _bad(f"Query/Retrieve Level {raw!r} is not PATIENT, STUDY, SERIES or IMAGE.")
    if model == STUDY_ROOT and level == "patient":
        raise _bad("The Study Root model has no PATIENT level.")
    return level


def _text(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def filters_of(identifier: Dataset) -> tuple[dict[str, str], list[DataElement]]:
    """(matching keys → value, every requested key) of an identifier.

    Sequence keys are return keys only (sequence matching is not supported); private and
    unknown elements are ignored, as PS3.4 C.4.1.1.3 allows an SCP.
    """
    filters: dict[str, str] = {}
    requested: list[DataElement] = []
    for elem in identifier:
        keyword = elem.keyword
        if not keyword or elem.tag.is_private or elem.tag.group in (0x0000, 0x0002):
            continue
        if keyword in NOT_KEYS:
            continue
        requested.append(elem)
        if elem.VR == "SQ":
            continue
        value = _text(elem).strip()
        if value and value != "*":
            filters[keyword] = value
    return filters, requested


def _value_at(row: Any, level: str, keyword: str) -> Any:
    attr = query.ATTRIBUTES.get(keyword)
    if attr is None or query.RANK[attr.level] > query.RANK[level]:
        return None
    obj = row
    for step in query.PATHS[(level, attr.level)].split("__"):
        if step:
            obj = getattr(obj, step)
    return getattr(obj, attr.field)


def _from_header(header: dict[str, Any], keyword: str) -> DataElement | None:
    """An instance's stored header value of ``keyword`` (IMAGE level return keys)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    key = f"{tag:08X}"
    if key not in header:
        return None
    try:
        ds = Dataset.from_json({key: header[key]})
        return ds[tag]
    except Exception:  # a stored value pydicom cannot rebuild: answer the key empty
        return None


def _empty(elem: DataElement) -> DataElement:
    return DataElement(elem.tag, elem.VR, [] if elem.VR == "SQ" else None)


def response(
    row: Any,
    level: query.Level,
    level_text: str,
    requested: list[DataElement],
    figures: dict[str, Any],
    *,
    retrieve_ae_title: str,
) -> Dataset:
    """The identifier answering one matching row: every requested key (empty when there is
    no value), the Query/Retrieve Level, and the unique keys of this level and those above
    (PS3.4 C.4.1.2.2)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level_text
    for name, unique_level in (
        ("PatientID", "patient"),
        ("StudyInstanceUID", "study"),
        ("SeriesInstanceUID", "series"),
        ("SOPInstanceUID", "instance"),
    ):
        if query.RANK[unique_level] <= query.RANK[level]:
            setattr(ds, name, _value_at(row, level, name) or "")
    for elem in requested:
        keyword = elem.keyword
        if keyword in ds and keyword != "QueryRetrieveLevel":
            continue
        value = _computed(keyword, level, figures, retrieve_ae_title)
        if value is None:
            value = _value_at(row, level, keyword)
        if value is None and level == "instance" and keyword not in query.ATTRIBUTES:
            stored = _from_header(row.header, keyword)
            if stored is not None:
                ds[stored.tag] = stored
                continue
        if value is None or value == "":
            ds[elem.tag] = _empty(elem)
        else:
            ds[elem.tag] = DataElement(elem.tag, dictionary_VR(elem.tag), value)
    if any(e.VR != "SQ" and not str(e.value).isascii() for e in ds):
        ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8 (PS3.3 C.12.1.1.2)
    return ds


def _computed(keyword: str, level: str, figures: dict[str, Any], ae_title: str) -> Any:
    if keyword == "RetrieveAETitle":
        return ae_title
    if keyword == "InstanceAvailability":
        return "ONLINE"
    if keyword == "ModalitiesInStudy" and level == "study":
        return list(figures.get("modalities") or []) or None
    if keyword == "NumberOfPatientRelatedStudies" and level == "patient":
        return figures.get("studies", 0)
    counted = COUNTED.get(keyword)
    if counted is not None and counted[0] == level:
        return figures.get(counted[1], 0)
    return None
