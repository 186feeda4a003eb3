"""Every criterion of the search language, through GET /api/v1/search, as a group reader.

Files uploaded into a folder live in a fileset of their own name, so a file name matches
twice (fileset and file); ``kind:file`` keeps to files where that matters.
"""

from __future__ import annotations

import pytest

from tests.search.conftest import COLL, PID_42, World

pytestmark = pytest.mark.django_db


def test_words_match_in_any_case_and_without_accents(world: World) -> None:
    for query in ("lodz", "LODZ", "Łódź", "łÓdŹ"):
        # the collection by name, the folder by its description; nothing closed or elsewhere
        assert world.names(world.alice, query) == {COLL, "Baseline"}, query
    assert world.names(world.admin, "lodz") == {
        COLL,
        "Baseline",
        "Closed Łódź",
        "secret Lodz.txt",
        "Lodz elsewhere.txt",
    }


def test_prefixes_phrases_and_words_inside_names(world: World) -> None:
    assert world.names(world.alice, "thor*") == {"CT_thorax_001", "Baseline"}
    assert world.names(world.alice, "thor") == set()  # a word is a whole word
    assert world.names(world.alice, "thorax") == {"CT_thorax_001", "Baseline"}
    assert world.names(world.alice, "CT_thorax") == {"CT_thorax_001"}  # the words in order
    assert world.names(world.alice, '"lodz hospital"') == {"Baseline"}
    assert world.names(world.alice, '"hospital lodz"') == set()
    assert world.names(world.alice, '"the lod"*') == {"Baseline"}
    assert world.names(world.alice, "report draft kind:file") == {"report draft.pdf"}


def test_greek_cjk_and_german_names(world: World) -> None:
    for query in ("ωμεγα", "ΩΜΕΓΑ", "Ωμέγα", "ωμέγα*"):
        assert world.names(world.alice, f"{query} kind:file") == {"Ωμέγα report.pdf"}, query
    for query in ("東京", "京大", "大学", "東京大学"):
        assert world.names(world.alice, f"{query} kind:file") == {"東京大学 scan.png"}, query
    assert world.names(world.alice, "東大 kind:file") == set()  # not next to each other
    for query in ("strasse", "STRASSE", "straße"):
        assert world.names(world.alice, f"{query} kind:file") == {"Straße.docx"}, query


def test_name_and_description_fields_and_negation(world: World) -> None:
    assert world.names(world.alice, "name:lodz") == {COLL}
    assert world.names(world.alice, "desc:lodz") == {"Baseline"}
    assert world.names(world.alice, "description:cohort") == {"Baseline"}
    assert world.names(world.alice, "report kind:file") == {"report draft.pdf", "Ωμέγα report.pdf"}
    assert world.names(world.alice, "report -name:draft kind:file") == {"Ωμέγα report.pdf"}
    assert world.names(world.alice, "report -draft kind:file") == {"Ωμέγα report.pdf"}
    everything = world.names(world.alice, "kind:folder")
    assert everything == {"Baseline", "Follow-up"}  # not the closed one
    assert world.names(world.alice, "kind:folder -lodz") == {"Follow-up"}


def test_a_pattern_looks_inside_names(world: World) -> None:
    assert world.names(world.alice, "*aseli*") == {"Baseline"}
    assert world.names(world.alice, "name:*ice?.dcm") == {"slice1.dcm", "slice2.dcm"}
    assert world.names(world.alice, "*ÓDŹ") == {COLL}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("id.partner:SERGAS", {"CT_thorax_001", "Dose plan"}),
        ("id.partner:sergas", {"CT_thorax_001", "Dose plan"}),
        ("id.patient:0043", {"Dose plan"}),
        ("id.task:T3.2", {"Follow-up"}),
        ("id.task:T2.*", {"CT_thorax_001", "Dose plan"}),
        ("id:SERGAS", {"CT_thorax_001", "Dose plan"}),
        ("id:0007", {"Follow-up"}),
        (f"id:{PID_42}", {"CT_thorax_001"}),
        ("id:SINFONIA-T2.1*", {"CT_thorax_001", "Dose plan"}),
        ("id:SINFONIA -id.partner:UNIPI", {"CT_thorax_001", "Dose plan"}),
        ("id:1", set()),  # "1" is a word of T2.1, but no component
        ("has:id", {"CT_thorax_001", "Dose plan", "Follow-up"}),
    ],
)
def test_project_identifiers_by_any_component(world: World, query: str, expected: set[str]):
    assert world.names(world.alice, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("meta.scanner:Siemens", {"CT_thorax_001"}),
        ("meta.scanner:SIEMENS", {"CT_thorax_001"}),
        ("meta.scanner:Sie*", {"CT_thorax_001"}),
        ("meta.scanner:*", {"CT_thorax_001", "Dose plan"}),
        ("has:meta.scanner", {"CT_thorax_001", "Dose plan"}),
        ("meta.dose:>2", {"CT_thorax_001"}),
        ("meta.dose:1..2", {"Dose plan"}),
        ("meta.dose:<=1", {"Dose plan"}),
        ("meta.done:true", {"CT_thorax_001"}),
        ("meta.site:ŁÓDŹ", {"CT_thorax_001"}),  # any letter case, on every database
        ("meta.site:łó*", {"CT_thorax_001"}),
        ("meta.site:lodz", set()),  # values compare exactly, but for letter case
        # elements without the key are not Siemens either
        (
            "kind:fileset -meta.scanner:Siemens -name:pdf",
            {"Dose plan", "notes.txt", "東京大学 scan.png", "Straße.docx"},
        ),
        ("meta.Scanner:Siemens", set()),  # keys are exact
    ],
)
def test_metadata(world: World, query: str, expected: set[str]) -> None:
    assert world.names(world.alice, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type:dicom", {"slice1.dcm", "slice2.dcm", "rtdose.dcm"}),
        ("type:pdf kind:file", {"report draft.pdf", "Ωμέγα report.pdf"}),
        ("type:image", {"東京大学 scan.png"}),
        ("mime:image/*", {"東京大学 scan.png"}),
        ("mime:text/plain", {"notes.txt"}),
        ("ext:PDF kind:file", {"report draft.pdf", "Ωμέγα report.pdf"}),
        ("ext:.docx kind:file", {"Straße.docx"}),
        ("kind:collection", {COLL, "~alice"}),  # and her personal collection
        ("kind:file -type:dicom -type:pdf", {"notes.txt", "東京大学 scan.png", "Straße.docx"}),
    ],
)
def test_file_types_and_kinds(world: World, query: str, expected: set[str]) -> None:
    assert world.names(world.alice, query) == expected


def test_sizes_and_dates(world: World) -> None:
    assert world.names(world.alice, "size:>1KB kind:file -type:dicom") == {
        "report draft.pdf",
        "東京大学 scan.png",
    }
    assert world.names(world.alice, "size:1.4KB..2KB -type:dicom") == {"report draft.pdf"}
    assert world.names(world.alice, "size:<=11 kind:file") == {"notes.txt", "Straße.docx"}
    assert world.names(world.alice, "created:2019") == {"notes.txt", "Straße.docx"}
    assert world.names(world.alice, "created:2019-05") == {"notes.txt"}
    assert world.names(world.alice, "created:2019-05-02") == {"notes.txt"}
    assert world.names(world.alice, "created:>2019-05-02 created:<2020") == {"Straße.docx"}
    assert world.names(world.alice, "created:..2019-06 kind:file") == {"notes.txt"}
    assert "notes.txt" not in world.names(world.alice, "created:>=2020 kind:file")
    assert world.names(world.alice, "updated:<2000") == set()


def test_under_a_folder(world: World) -> None:
    follow = world.ids["Follow-up"]
    expected = {"notes.txt", "Ωμέγα report.pdf", "東京大学 scan.png", "Straße.docx"}
    assert world.names(world.alice, f'under:"/{COLL}/Follow-up" kind:file') == expected
    assert world.names(world.alice, f"under:{follow} kind:file") == expected
    assert world.names(world.alice, f'under:"/{COLL}" report kind:file') == {
        "report draft.pdf",
        "Ωμέγα report.pdf",
    }
    assert world.names(world.alice, f'type:pdf -under:"/{COLL}/Baseline" kind:file') == {
        "Ωμέγα report.pdf"
    }


def test_under_a_place_you_may_not_see_is_the_same_as_nowhere(world: World) -> None:
    hidden = world.alice.get("/search", q=f'under:"/{COLL}/Closed Łódź" lodz')
    missing = world.alice.get("/search", q=f'under:"/{COLL}/Nowhere" lodz')
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["code"] == missing.json()["code"] == "bad_search_value"
    closed = world.ids["Closed Łódź"]
    by_id = world.alice.get("/search", q=f"under:{closed} lodz")
    assert by_id.status_code == 400
    assert "Closed" not in by_id.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("modality:RTDOSE", {"rtdose.dcm"}),
        ("Modality:RTDOSE", {"rtdose.dcm"}),
        ("modality:ct", {"slice1.dcm", "slice2.dcm"}),
        ("modality:CT\\RTDOSE", {"slice1.dcm", "slice2.dcm", "rtdose.dcm"}),
        ("studydate:20200101-20201231", {"slice1.dcm", "slice2.dcm"}),
        ("studydate:2021", {"rtdose.dcm"}),
        ("studydate:>=2021-01-01", {"rtdose.dcm"}),
        ("studydate:20210601-", {"rtdose.dcm"}),
        ("studydate:2020-03-15", {"slice1.dcm", "slice2.dcm"}),
        ("bodypart:chest", {"slice1.dcm", "slice2.dcm"}),
        ("BodyPartExamined:PELVIS", {"rtdose.dcm"}),
        ("patientid:SERGAS-0043", {"rtdose.dcm"}),
        ("PatientID:SERGAS*", {"slice1.dcm", "slice2.dcm", "rtdose.dcm"}),
        ("patientname:anon", {"slice1.dcm", "slice2.dcm"}),
        ("dicom.StudyDate:2020", {"slice1.dcm", "slice2.dcm"}),
        ("modality:*", {"slice1.dcm", "slice2.dcm", "rtdose.dcm"}),
    ],
)
def test_dicom_attributes_of_the_index(world: World, query: str, expected: set[str]) -> None:
    assert world.names(world.alice, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag:00181030=*Thorax*", {"slice1.dcm"}),
        ("tag:(0018,1030)=*thorax*", {"slice1.dcm"}),
        ("ProtocolName:*routine", {"slice1.dcm"}),
        ('protocolname:"Thorax routine"', {"slice1.dcm"}),
        ("has:0010,0030", {"slice1.dcm", "slice2.dcm"}),
        ("has:PatientBirthDate -tag:00100030=19700101", {"slice2.dcm"}),
        ("type:dicom -has:PatientBirthDate", {"rtdose.dcm"}),
        ("tag:00100030", {"slice1.dcm", "slice2.dcm"}),
        ("PatientBirthDate:1970", {"slice1.dcm"}),
        ("dicom.SliceThickness:<=2", {"slice1.dcm"}),
        ("tag:0018,0050=>2", {"slice2.dcm"}),
        ("SliceThickness:1.5", {"slice1.dcm"}),
        ("tag:00080060=RTDOSE", {"rtdose.dcm"}),
    ],
)
def test_dicom_attributes_of_the_header(world: World, query: str, expected: set[str]) -> None:
    assert world.names(world.alice, query) == expected


def test_criteria_combine_with_and(world: World) -> None:
    assert world.names(world.alice, "modality:CT studydate:2020 -name:slice2") == {"slice1.dcm"}
    assert world.names(world.alice, "thorax id.partner:SERGAS meta.scanner:Siemens") == {
        "CT_thorax_001"
    }
    assert world.names(world.alice, f'under:"/{COLL}/Baseline" type:dicom -modality:CT') == {
        "rtdose.dcm"
    }
    assert world.names(world.alice, "lodz type:dicom") == set()
