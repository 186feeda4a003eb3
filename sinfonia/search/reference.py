"""The reference of the query language, for search forms (API ``/search/fields``) and docs."""

from __future__ import annotations

from dataclasses import dataclass

from sinfonia.search.syntax import TYPE_NAMES


@dataclass(frozen=True, slots=True)
class FieldHelp:
    """One line of the query language's reference (API ``/search/fields``, CLI, docs)."""

    field: str
    example: str
    meaning: str


FIELD_HELP = (
    FieldHelp(
        "(free text)",
        'thorax  lod*  "chest ct"  *scan*',
        "words of names and descriptions, any case and accents; a trailing * makes the last "
        "word a prefix; quotes make a phrase; * or ? inside a word looks for a part of names",
    ),
    FieldHelp("name:", "name:draft  -name:draft  name:rep*", "words of the name only"),
    FieldHelp("desc:", "desc:baseline", "words of the description only"),
    FieldHelp(
        "id:",
        "id:SINFONIA-T2.1-SERGAS-0042  id:SERGAS  id:SINFONIA-T2.1*",
        "the project identifier: the whole of it, any one component, or a pattern",
    ),
    FieldHelp(
        "id.<component>:",
        "id.partner:SERGAS  id.patient:0042  id.task:T2.*",
        "one component of the project identifier (the scheme's keys)",
    ),
    FieldHelp(
        "meta.<key>:",
        'meta.scanner:Siemens  meta.dose:>2  meta.site:"Łódź*"  meta.review:*',
        "a metadata value: equal (any case), a wildcard pattern, a number range; * = present",
    ),
    FieldHelp(
        "type:",
        "type:dicom  type:pdf  type:image  type:spreadsheet  type:image/png",
        f"kind of file: {', '.join(TYPE_NAMES)}, or a MIME type",
    ),
    FieldHelp("mime:", "mime:application/pdf  mime:image/*", "MIME type, or a family"),
    FieldHelp("ext:", "ext:pdf  ext:nii.gz", "file name extension"),
    FieldHelp("kind:", "kind:folder  kind:file,fileset", "collection, folder, fileset or file"),
    FieldHelp(
        "size:", "size:>10MB  size:1MB..1GB  size:<=500KiB", "file size (KB = 1000, KiB = 1024)"
    ),
    FieldHelp(
        "created:",
        "created:2024  created:>=2024-03-01  created:2024-01..2024-06",
        "creation date: a year, month or day, compared or as a range (UTC)",
    ),
    FieldHelp("updated:", "updated:<2023  updated:2024-05-02", "date of the last change"),
    FieldHelp(
        "under:", "under:/WP2/Baseline  under:123", "below a folder or collection (path or id)"
    ),
    FieldHelp(
        "has:",
        "has:description  has:id  has:meta.scanner  has:0010,0030  -has:PatientBirthDate",
        "present: the description, a project identifier, a metadata key, a DICOM attribute",
    ),
    FieldHelp(
        "<DICOM keyword>:",
        "modality:RTDOSE  patientid:SERGAS*  studydate:20200101-20201231  "
        "bodypart:THORAX  StudyDescription:*thorax*",
        "DICOM attributes by keyword (any case): dates as ranges, code strings in any case, "
        "names by a part, wildcards; aliases bodypart, patient, accession",
    ),
    FieldHelp(
        "dicom.<Keyword>:",
        "dicom.ProtocolName:*Thorax*  dicom.SliceThickness:<=2",
        "any attribute of the stored header, numbers and dates as ranges",
    ),
    FieldHelp(
        "tag:",
        "tag:00181030=*Thorax*  tag:(0018,0050)=>2  tag:0010,0030",
        "an attribute by tag number: =value, or present without one",
    ),
)
