"""What a search answers: only what the caller may read, in pages and orders, each hit with
what matched; clear 400s for malformed queries; an index that follows every change."""

from __future__ import annotations

from typing import Any

import pytest

from tests.search.conftest import COLL, PID_42, World

pytestmark = pytest.mark.django_db


def hits(world: World, api: Any, query: str, **params: Any) -> list[dict[str, Any]]:
    return list(world.q(api, query, **params)["items"])


# -- permissions ------------------------------------------------------------------------------


def test_nobody_finds_or_counts_what_they_may_not_read(world: World) -> None:
    for query in ("lodz", "modality:CT", "type:dicom", "kind:file", "meta.scanner:*", "has:id"):
        answer = world.q(world.bob, query)
        assert (answer["total"], answer["items"]) == (0, []), query
    page = world.q(world.alice, "lodz", limit=1)
    assert page["total"] == 2 and len(page["items"]) == 1
    # a file uploaded into a folder counts once, not with its one-file fileset
    assert world.q(world.admin, "lodz", limit=1)["total"] == 5
    # the closed folder's DICOM file and the other collection's are not counted for alice
    assert world.q(world.alice, "modality:CT studydate:2020", limit=1)["total"] == 2
    assert world.q(world.admin, "modality:CT studydate:2020", limit=1)["total"] == 4


def test_the_recycle_bin_is_never_searched(world: World) -> None:
    assert world.names(world.admin, "trashed") == set()


def test_anonymous_callers_are_refused(world: World, anon_api: Any) -> None:
    assert anon_api.get("/search", q="lodz").status_code == 401


def test_a_public_collection_is_found_by_every_signed_in_user(world: World) -> None:
    other = world.ids["Other"]
    acl = {"public": True, "entries": [{"user": "root", "level": "admin"}]}
    world.admin.ok(world.admin.put(f"/resources/{other}/acl", acl))
    assert world.names(world.bob, "elsewhere kind:file") == {"Lodz elsewhere.txt", "elsewhere.dcm"}
    assert world.names(world.bob, "modality:CT") == {"elsewhere.dcm"}


def test_a_file_uploaded_into_a_folder_is_found_once(world: World) -> None:
    # The upload made a fileset "report draft.pdf" holding the file "report draft.pdf".
    only = [(h["kind"], h["name"]) for h in hits(world, world.alice, "draft")]
    assert only == [("file", "report draft.pdf")]
    assert world.q(world.alice, "draft")["total"] == 1
    # Where only the fileset matches, it is found; where only the file does, the file.
    assert [h["kind"] for h in hits(world, world.alice, "draft kind:fileset")] == ["fileset"]
    assert [h["kind"] for h in hits(world, world.alice, "draft type:pdf")] == ["file"]
    assert [h["kind"] for h in hits(world, world.alice, "draft kind:file,fileset")] == ["file"]
    assert [h["kind"] for h in hits(world, world.alice, "draft -kind:folder")] == ["file"]
    # Prefixes, negations and descriptions: the twin is checked against the same words.
    assert [h["kind"] for h in hits(world, world.alice, "dra*")] == ["file"]
    assert [h["kind"] for h in hits(world, world.alice, "report draft -nothing")] == ["file"]
    file = world.alice.ok(world.alice.get(f"/resources/{world.ids['report draft.pdf']}"))
    assert file["kind"] == "file"
    world.admin.ok(
        world.admin.patch(f"/resources/{file['parent_id']}", {"description": "zebrafish"})
    )
    # only the fileset says "zebrafish": it is found, and stands for its file
    assert [h["kind"] for h in hits(world, world.alice, "zebra*")] == ["fileset"]
    assert [h["kind"] for h in hits(world, world.alice, "draft zebrafish")] == ["fileset"]
    # A fileset holding another file too is an element of its own: both are found.
    world.admin.ok(world.admin.upload(file["parent_id"], "page2.txt", b"two"), 201)
    kinds = sorted(h["kind"] for h in hits(world, world.alice, "draft"))
    assert kinds == ["file", "fileset"]


# -- pages and orders -------------------------------------------------------------------------


def test_pages_cover_everything_once(world: World) -> None:
    whole = [h["id"] for h in hits(world, world.alice, "kind:file", limit=100)]
    assert len(whole) == 8
    pages = []
    for offset in range(0, 12, 3):
        page = world.q(world.alice, "kind:file", limit=3, offset=offset)
        assert page["total"] == 8 and (page["offset"], page["limit"]) == (offset, 3)
        pages += [h["id"] for h in page["items"]]
    assert pages == whole


def test_sorting(world: World) -> None:
    def order(query: str, **params: Any) -> list[str]:
        return [h["name"] for h in hits(world, world.alice, query, **params)]

    by_name = order("kind:file -type:dicom")
    assert by_name == sorted(by_name, key=str.casefold)
    assert order("kind:file -type:dicom", order="desc") == by_name[::-1]
    sizes = [h["size"] for h in hits(world, world.alice, "kind:file", sort="size", order="desc")]
    assert sizes == sorted(sizes, reverse=True)
    assert order("kind:file created:<2020", sort="created") == ["notes.txt", "Straße.docx"]
    assert order("kind:file created:<2020", sort="created", order="desc") == [
        "Straße.docx",
        "notes.txt",
    ]
    # relevance: a whole word of a name, then a prefix of one, then the description
    assert order("lodz") == [COLL, "Baseline"]
    assert order("thor*") == ["CT_thorax_001", "Baseline"]
    answer = world.q(world.alice, "thor*")
    assert (answer["sort"], answer["order"]) == ("relevance", "asc")
    assert world.q(world.alice, "kind:folder")["sort"] == "name"  # nothing to rank by
    assert world.q(world.alice, "kind:folder", sort="relevance")["sort"] == "name"


# -- what matched -----------------------------------------------------------------------------


def test_each_hit_says_what_matched_and_where(world: World) -> None:
    collection, baseline = hits(world, world.alice, "łódź")
    assert collection["path"] == f"/{COLL}"
    (match,) = collection["matches"]
    assert (match["criterion"], match["field"], match["value"]) == ("łódź", "name", COLL)
    start, end = match["highlights"][0]
    assert match["value"][start:end] == "Łódź"
    (match,) = baseline["matches"]
    assert match["field"] == "description"
    start, end = match["highlights"][0]
    assert match["value"][start:end] == "Lodz"

    (hit,) = hits(world, world.alice, "東京 kind:file")
    start, end = hit["matches"][0]["highlights"][0]
    assert hit["name"][start:end] == "東京"

    query = f"thorax id.partner:SERGAS meta.scanner:siemens id:{PID_42} -name:draft kind:fileset"
    (hit,) = hits(world, world.alice, query)
    found = {m["field"]: m["value"] for m in hit["matches"]}
    assert found == {
        "name": "CT_thorax_001",
        "sinfonia_id.partner": "SERGAS",
        "meta.scanner": "Siemens",
        "sinfonia_id": PID_42,
        "kind": "fileset",
    }
    assert all(m["criterion"] != "-name:draft" for m in hit["matches"])  # negated: no reason


def test_dicom_hits_show_the_attribute_values(world: World) -> None:
    (hit,) = hits(world, world.alice, "modality:RTDOSE studydate:2021 bodypart:pelvis")
    assert hit["path"] == f"/{COLL}/Baseline/Dose plan/rtdose.dcm"
    found = {m["field"]: m["value"] for m in hit["matches"]}
    assert found == {"Modality": "RTDOSE", "StudyDate": "20210601", "BodyPartExamined": "PELVIS"}
    (hit,) = hits(world, world.alice, "tag:00181030=*thorax* has:0010,0030")
    found = {m["field"]: m["value"] for m in hit["matches"]}
    assert found == {
        "(0018,1030) ProtocolName": "Thorax routine",
        "(0010,0030) PatientBirthDate": "19700101",
    }


# -- malformed queries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code", "says"),
    [
        ('"chest ct', "bad_search_query", "never closed"),
        ("thorax -", "bad_search_query", "lone '-'"),
        ("foo:bar", "unknown_search_field", "'foo'"),
        ("id.bogus:x", "unknown_search_field", "id.partner"),
        ("dicom.NoSuchKeyword:1", "unknown_search_field", "not a DICOM keyword"),
        ("size:>10XB", "bad_search_value", "size"),
        ("created:2024-13", "bad_search_value", "2024-13"),
        ("created:2025..2024", "bad_search_value", "empty"),
        ("meta.dose:>abc", "bad_search_value", "number"),
        ("tag:zzzz=1", "bad_search_value", "zzzz"),
        ("SeriesNumber:two", "bad_search_value", "two"),
        ("type:blob", "bad_search_value", "type:"),
        ("kind:thing", "bad_search_value", "kind:"),
        ("under:WP2", "bad_search_value", "under:"),
        ("modality:", "bad_search_query", "needs a value"),
        ("!!!", "bad_search_query", "letters or digits"),
        ("", "empty_search_query", "at least one"),
        ("   ", "empty_search_query", "at least one"),
        ("x " * 40, "bad_search_query", "at most"),
    ],
)
def test_malformed_queries_are_400_with_a_reason(
    world: World, query: str, code: str, says: str
) -> None:
    response = world.alice.get("/search", q=query)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == code
    assert says in body["detail"]


def test_bad_sort_and_order_are_400(world: World) -> None:
    for params in ({"sort": "colour"}, {"order": "sideways"}):
        response = world.alice.get("/search", q="lodz", **params)
        assert response.status_code == 400
        assert response.json()["code"] == "bad_search_sort"


def test_the_fields_are_listed_for_search_forms(world: World) -> None:
    fields = world.alice.ok(world.alice.get("/search/fields"))
    names = {f["field"] for f in fields}
    assert {"(free text)", "meta.<key>:", "tag:", "under:", "<DICOM keyword>:"} <= names
    assert all(f["example"] and f["meaning"] for f in fields)


# -- the index follows every change -----------------------------------------------------------


def test_renames_descriptions_and_identifiers_are_found_at_once(world: World) -> None:
    a = world.admin
    notes = world.ids["notes.txt"]
    a.ok(a.patch(f"/resources/{notes}", {"name": "Protokół Gdańsk.txt"}))
    assert world.names(world.alice, "notes") == {"notes.txt"}  # its fileset kept the name
    assert world.names(world.alice, "protokol gdansk") == {"Protokół Gdańsk.txt"}
    a.ok(a.patch(f"/resources/{notes}", {"description": "Zażółć gęślą jaźń"}))
    assert world.names(world.alice, "desc:zazolc") == {"Protokół Gdańsk.txt"}
    a.ok(a.patch(f"/resources/{notes}", {"sinfonia_id": "SINFONIA-T4.1-CHUV-0100"}))
    assert world.names(world.alice, "id.partner:CHUV") == {"Protokół Gdańsk.txt"}
    a.ok(a.patch(f"/resources/{notes}", {"sinfonia_id": ""}))
    assert world.names(world.alice, "id.partner:CHUV") == set()


def test_deleted_restored_copied_and_moved_elements(world: World) -> None:
    a = world.admin
    baseline, follow = world.ids["Baseline"], world.ids["Follow-up"]
    (item,) = a.ok(a.delete(f"/resources/{baseline}"))["trash_ids"]
    assert world.names(world.alice, "thorax") == set()
    assert world.names(world.alice, "modality:RTDOSE") == set()
    a.ok(a.post(f"/trash/{item}/restore"))
    assert world.names(world.alice, "thorax") == {"CT_thorax_001", "Baseline"}

    ct42 = world.ids["CT_thorax_001"]
    a.ok(a.post("/resources/copy", {"sources": [ct42], "destination_id": follow}), 201)
    assert world.q(world.alice, "CT_thorax_001 kind:fileset")["total"] == 2
    copies = world.names(world.alice, f"under:{follow} meta.scanner:Siemens id.patient:0042")
    assert copies == {"CT_thorax_001"}
    run_indexer()
    assert world.q(world.alice, f"under:{follow} modality:CT")["total"] == 2

    a.ok(a.post("/resources/move", {"sources": [world.ids["Dose plan"]], "destination_id": follow}))
    assert world.names(world.alice, f"under:{follow} modality:RTDOSE") == {"rtdose.dcm"}
    assert world.names(world.alice, f"under:{baseline} modality:RTDOSE") == set()


def run_indexer() -> None:
    from sinfonia.transfers.services.operations import run_pollers

    run_pollers()


def test_a_page_costs_the_same_few_statements_whatever_its_size(world: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sinfonia.core.context import Actor
    from sinfonia.search.selectors import search

    actor = Actor(user=world.alice.user, channel="test")
    counts = []
    for limit in (1, 50):
        with CaptureQueriesContext(connection) as queries:
            results = search(actor, "dcm type:dicom modality:* -meta.scanner:*", limit=limit)
        assert results.items
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] <= 10, counts  # PostgreSQL: savepoint and settings too
