"""Free metadata and project identifiers ("SINFONIA IDs") on tree elements."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import Api
from tests.resources.helpers import (
    blob_files,
    child_names,
    collection,
    detail,
    error,
    fileset,
    folder,
    set_acl,
    upload,
)

FULL = "SINFONIA-T2.1-SERGAS-0042_PED.BRAIN"
FULL_PARTS = {
    "project": "SINFONIA",
    "task": "T2.1",
    "partner": "SERGAS",
    "patient": "0042",
    "specific": "PED.BRAIN",
}


@pytest.fixture
def kinds(admin_api):
    """One element of each kind."""
    coll = collection(admin_api, "WP2")
    d = folder(admin_api, coll, "CT")
    fs = fileset(admin_api, d, "Series")
    f = upload(admin_api, fs, "scan.dcm", b"scan")
    return {"collection": coll, "folder": d, "fileset": fs, "file": f}


# --- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["collection", "folder", "fileset", "file"])
def test_metadata_merge_delete_and_replace(admin_api, kinds, kind):
    url = f"/resources/{kinds[kind]['id']}/metadata"
    assert admin_api.ok(admin_api.get(url)) == {}

    merged = admin_api.ok(
        admin_api.patch(url, {"modality": "CT", "slices": 120, "site": {"city": "A Coruña"}})
    )
    assert merged == {"modality": "CT", "slices": 120, "site": {"city": "A Coruña"}}
    merged = admin_api.ok(admin_api.patch(url, {"slices": None, "contrast": True, "absent": None}))
    assert merged == {"modality": "CT", "site": {"city": "A Coruña"}, "contrast": True}
    assert admin_api.ok(admin_api.get(url)) == merged
    assert detail(admin_api, kinds[kind])["meta"] == merged

    replaced = admin_api.ok(admin_api.put(url, {"tags": ["a", "b"], "score": 0.5}))
    assert replaced == {"tags": ["a", "b"], "score": 0.5}
    assert admin_api.ok(admin_api.get(url)) == replaced
    assert admin_api.ok(admin_api.put(url, {})) == {}


@pytest.mark.parametrize(
    "key",
    ["", "   ", "line\nbreak", "nul\x00", "k" * 256],
    ids=["empty", "spaces", "nl", "nul", "long"],
)
def test_invalid_metadata_keys_are_refused(admin_api, kinds, key):
    url = f"/resources/{kinds['folder']['id']}/metadata"
    admin_api.ok(admin_api.patch(url, {"kept": 1}))
    for send in (admin_api.patch, admin_api.put):
        body = error(send(url, {"fine": 1, key: "x"}), 400)
        assert body["code"] == "invalid_metadata"
        assert "key" in body["detail"]
    assert admin_api.ok(admin_api.get(url)) == {"kept": 1}


def test_metadata_is_limited_to_64_kib(admin_api, kinds):
    url = f"/resources/{kinds['file']['id']}/metadata"
    admin_api.ok(admin_api.put(url, {"big": "x" * 60_000}))
    body = error(admin_api.patch(url, {"more": "y" * 6_000}), 400)
    assert body["code"] == "invalid_metadata"
    assert "64 KiB" in body["detail"]
    error(admin_api.put(url, {"huge": "z" * (64 * 1024 + 1)}), 400)
    assert set(admin_api.ok(admin_api.get(url))) == {"big"}
    # Multi-byte text counts in bytes, not characters.
    error(admin_api.put(url, {"greek": "λ" * 33_000}), 400)


def test_metadata_values_with_nul_characters(admin_api, kinds):
    url = f"/resources/{kinds['fileset']['id']}/metadata"
    admin_api.ok(admin_api.put(url, {"kept": "yes"}))
    for value in ("a\x00b", ["ok", "\x00"], {"nested": {"deep": "\x00"}}, {"\x00": 1}):
        for send in (admin_api.patch, admin_api.put):
            body = error(send(url, {"note": value}), 400)
            assert body["code"] == "invalid_metadata"
            assert "NUL" in body["detail"]
    assert admin_api.ok(admin_api.get(url)) == {"kept": "yes"}


def test_metadata_needs_write_access_to_change(admin_api, kinds, make_user, api_for):
    reader = api_for(make_user("reader"))
    set_acl(admin_api, kinds["collection"], {"root": "admin", "reader": "read"})
    url = f"/resources/{kinds['fileset']['id']}/metadata"
    admin_api.ok(admin_api.patch(url, {"a": 1}))
    assert reader.ok(reader.get(url)) == {"a": 1}
    error(reader.patch(url, {"a": 2}), 403)
    error(reader.put(url, {}), 403)
    assert admin_api.ok(admin_api.get(url)) == {"a": 1}


# --- project identifiers ----------------------------------------------------------------------


def test_scheme_is_published(admin_api):
    scheme = admin_api.ok(admin_api.get("/sinfonia-ids/scheme"))
    assert scheme["name"] == "SINFONIA ID"
    assert [c["key"] for c in scheme["general"]] == ["project", "task", "partner", "patient"]
    assert scheme["specific"]["key"] == "specific"
    assert scheme["example"] == FULL
    assert scheme["allow_prefix"] is True


def test_identifier_on_create_as_text_and_as_object(admin_api):
    coll = collection(admin_api, "WP2")
    d = folder(admin_api, coll, "Patient 42", sinfonia_id=FULL)
    assert d["sinfonia_id"] == FULL
    assert d["sinfonia_id_parts"] == FULL_PARTS

    as_object = {
        "general": {"project": "SINFONIA", "task": "T2.1", "partner": "SERGAS", "patient": "0042"},
        "specific": "PED.BRAIN",
    }
    fs = fileset(admin_api, coll, "Series", sinfonia_id=as_object)
    assert fs["sinfonia_id"] == FULL
    assert fs["sinfonia_id_parts"] == FULL_PARTS
    assert detail(admin_api, fs)["sinfonia_id"] == FULL


def test_identifier_prefixes_are_allowed(admin_api):
    coll = collection(admin_api, "WP2")
    d = folder(admin_api, coll, "Task", sinfonia_id="SINFONIA-T2.1")
    assert d["sinfonia_id"] == "SINFONIA-T2.1"
    assert d["sinfonia_id_parts"] == {"project": "SINFONIA", "task": "T2.1"}
    p = folder(admin_api, coll, "Partner", sinfonia_id={"general": {"project": "SINFONIA"}})
    assert p["sinfonia_id"] == "SINFONIA"
    parsed = admin_api.ok(admin_api.get("/sinfonia-ids/parse", value="SINFONIA-T2.1-SERGAS"))
    assert parsed == {
        "value": "SINFONIA-T2.1-SERGAS",
        "general": {"project": "SINFONIA", "task": "T2.1", "partner": "SERGAS"},
        "specific": "",
    }


@pytest.mark.parametrize("kind", ["folder", "fileset", "file"])
def test_identifier_set_changed_and_cleared_on_edit(admin_api, kinds, kind):
    url = f"/resources/{kinds[kind]['id']}"
    edited = admin_api.ok(admin_api.patch(url, {"sinfonia_id": FULL}))
    assert (edited["sinfonia_id"], edited["sinfonia_id_parts"]) == (FULL, FULL_PARTS)

    edited = admin_api.ok(
        admin_api.patch(
            url,
            {"sinfonia_id": {"general": {"project": "SINFONIA", "task": "T3.2", "partner": "UMU"}}},
        )
    )
    assert edited["sinfonia_id"] == "SINFONIA-T3.2-UMU"
    assert edited["sinfonia_id_parts"] == {"project": "SINFONIA", "task": "T3.2", "partner": "UMU"}

    # Leaving the field out keeps the identifier; "" clears it.
    assert admin_api.ok(admin_api.patch(url, {"description": "x"}))["sinfonia_id"] == (
        "SINFONIA-T3.2-UMU"
    )
    cleared = admin_api.ok(admin_api.patch(url, {"sinfonia_id": ""}))
    assert (cleared["sinfonia_id"], cleared["sinfonia_id_parts"]) == ("", {})
    assert detail(admin_api, kinds[kind])["sinfonia_id"] == ""


def test_identifier_on_upload(admin_api):
    coll = collection(admin_api, "WP2")
    d = folder(admin_api, coll, "CT")
    f = upload(admin_api, d, "scan.dcm", b"s", sinfonia_id=FULL)
    assert (f["sinfonia_id"], f["sinfonia_id_parts"]) == (FULL, FULL_PARTS)
    holder = detail(admin_api, f["parent_id"])
    assert holder["kind"] == "fileset"
    assert holder["sinfonia_id"] == FULL
    g = upload(admin_api, holder, "second.dcm", b"t", sinfonia_id="SINFONIA-T2.1")
    assert g["sinfonia_id"] == "SINFONIA-T2.1"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("sinfonia-T2.1", "Project"),
        ("SINFONIA-X2.1-SERGAS", "Work-package task"),
        ("SINFONIA-T2.1-sergas", "Partner"),
        ("SINFONIA-T2.1-SERGAS-42", "Patient serial number"),
        ("SINFONIA-T2.1-SERGAS-0042_PED BRAIN", "Partner notation"),
        ("SINFONIA-T2.1_PED", "Partner is missing"),
        ("SINFONIA-T2.1-SERGAS-0042-EXTRA", "at most 4 general components"),
    ],
)
def test_invalid_identifiers_name_the_bad_component(admin_api, value, named):
    coll = collection(admin_api, "WP2")
    body = error(
        admin_api.post("/folders", {"parent_id": coll["id"], "name": "x", "sinfonia_id": value}),
        400,
    )
    assert body["code"] == "invalid_sinfonia_id"
    assert named in body["detail"]
    assert child_names(admin_api, coll) == []
    assert error(admin_api.get("/sinfonia-ids/parse", value=value), 400)["detail"] == body["detail"]


def test_invalid_identifier_objects(admin_api):
    coll = collection(admin_api, "WP2")
    url = f"/resources/{coll['id']}"
    d = folder(admin_api, coll, "D", sinfonia_id="SINFONIA")
    cases = [
        ({"general": {"project": "SINFONIA", "partner": "SERGAS"}}, "Work-package task is missing"),
        ({"general": {"project": "SINFONIA", "colour": "red"}}, "colour"),
        ({"general": {"task": "T2.1"}}, "Project"),
        ({"general": {"project": "SINFONIA"}, "specific": "PED"}, "needs the whole general part"),
    ]
    for value, named in cases:
        body = error(admin_api.patch(f"/resources/{d['id']}", {"sinfonia_id": value}), 400)
        assert body["code"] == "invalid_sinfonia_id"
        assert named in body["detail"], body
    assert detail(admin_api, d)["sinfonia_id"] == "SINFONIA"
    assert url  # the collection itself is left alone


def test_invalid_identifier_on_upload_stores_nothing(admin_api):
    coll = collection(admin_api, "WP2")
    fs = fileset(admin_api, coll, "Series")
    response = admin_api.upload(fs["id"], "a.dcm", b"never stored", sinfonia_id="SINFONIA-T9")
    body = error(response, 400)
    assert "Work-package task" in body["detail"]
    assert child_names(admin_api, fs) == []
    assert blob_files() == []


def test_find_elements_by_identifier_component(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    open_coll = collection(admin_api, "Open")
    closed = collection(admin_api, "Closed")
    set_acl(admin_api, open_coll, {"root": "admin", "bob": "read"})
    a = folder(admin_api, open_coll, "A", sinfonia_id="SINFONIA-T2.1-SERGAS-0001")
    b = fileset(admin_api, open_coll, "B", sinfonia_id="SINFONIA-T2.1-SERGAS-0002_PED")
    folder(admin_api, open_coll, "C", sinfonia_id="SINFONIA-T2.1-UMU-0001")
    folder(admin_api, open_coll, "D")
    hidden = folder(admin_api, closed, "E", sinfonia_id="SINFONIA-T2.1-SERGAS-0003")
    trashed = folder(admin_api, open_coll, "F", sinfonia_id="SINFONIA-T2.1-SERGAS-0004")
    admin_api.ok(admin_api.delete(f"/resources/{trashed['id']}"))

    def found(api: Api, **params: Any) -> set[int]:
        page = api.ok(api.get("/sinfonia-ids/resources", **params))
        assert page["total"] == len(page["items"])
        return {item["id"] for item in page["items"]}

    assert found(bob, partner="SERGAS") == {a["id"], b["id"]}
    assert found(admin_api, partner="SERGAS") == {a["id"], b["id"], hidden["id"]}
    assert found(admin_api, partner="SERGAS", patient="0002") == {b["id"]}
    assert found(admin_api, patient="0001") == {a["id"], next(iter(_named(admin_api, "C")))}
    assert found(admin_api, specific="PED") == {b["id"]}
    assert found(bob, partner="NOBODY") == set()


def _named(api: Api, name: str) -> set[int]:
    coll = api.ok(api.client.get("/api/v1/resource/lookup", {"path": "/Open"}))
    return {
        i["id"]
        for i in api.ok(api.get(f"/resources/{coll['id']}/children"))["items"]
        if i["name"] == name
    }


def test_custom_scheme_from_a_json_file(admin_api, settings, tmp_path):
    path = tmp_path / f"scheme-{uuid.uuid4().hex}.json"
    path.write_text(
        json.dumps(
            {
                "name": "Trial ID",
                "separator": ".",
                "specific_separator": "/",
                "allow_prefix": False,
                "general": [
                    {"key": "site", "label": "Site", "pattern": "[A-Z]{3}", "example": "MAD"},
                    {
                        "key": "subject",
                        "label": "Subject",
                        "pattern": "[0-9]{4}",
                        "example": "0007",
                    },
                ],
                "specific": {
                    "key": "visit",
                    "label": "Visit",
                    "pattern": "V[0-9]",
                    "example": "V1",
                },
            }
        ),
        encoding="utf-8",
    )
    settings.SINFONIA_ID_SCHEME = str(path)

    scheme = admin_api.ok(admin_api.get("/sinfonia-ids/scheme"))
    assert scheme["name"] == "Trial ID"
    assert [c["key"] for c in scheme["general"]] == ["site", "subject"]
    assert scheme["example"] == "MAD.0007/V1"

    coll = collection(admin_api, "Trial")
    d = folder(admin_api, coll, "S7", sinfonia_id="MAD.0007/V1")
    assert d["sinfonia_id_parts"] == {"site": "MAD", "subject": "0007", "visit": "V1"}
    body = error(
        admin_api.post("/folders", {"parent_id": coll["id"], "name": "x", "sinfonia_id": FULL}), 400
    )
    assert body["code"] == "invalid_sinfonia_id"
    assert "Site" in body["detail"]
    # This scheme allows no prefixes.
    body = error(
        admin_api.post("/folders", {"parent_id": coll["id"], "name": "y", "sinfonia_id": "MAD"}),
        400,
    )
    assert "Subject is missing" in body["detail"]

    folder(admin_api, coll, "S8", sinfonia_id="MAD.0008/V2")
    for params in ({"site": "MAD", "subject": "0007"}, {"visit": "V1"}):
        page = admin_api.ok(admin_api.get("/sinfonia-ids/resources", **params))
        assert [i["id"] for i in page["items"]] == [d["id"]], params
