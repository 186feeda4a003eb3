"""A small repository to search: three people, a group grant, a closed folder, another
collection nobody shares, DICOM files with known attributes, names in several scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from sinfonia.accounts.models import User
from sinfonia.resources.models import Node
from sinfonia.transfers.services.operations import run_pollers
from tests.conftest import Api
from tests.dicom.series import ct_series, part10

COLL = "WP2 Łódź"
PID_42 = "SINFONIA-T2.1-SERGAS-0042"
PID_43 = "SINFONIA-T2.1-SERGAS-0043"
PID_7 = "SINFONIA-T3.2-UNIPI-0007"


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    admin: Api
    alice: Api  # reads the collection through the group "radiology"
    bob: Api  # a stranger
    ids: dict[str, int]  # name -> node id

    def q(self, api: Api, query: str, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = api.ok(api.get("/search", q=query, **params))
        return answer

    def names(self, api: Api, query: str, **params: Any) -> set[str]:
        return {item["name"] for item in self.q(api, query, limit=500, **params)["items"]}


def ct(**attrs: Any) -> bytes:
    (ds,) = ct_series(1, patient_id=attrs.pop("PatientID", "SERGAS-0042"))
    for key, value in attrs.items():
        setattr(ds, key, value)
    return part10(ds)


def rtdose() -> bytes:
    ds = dcmread(str(get_testdata_file("rtdose.dcm")))
    ds.PatientID = "SERGAS-0043"
    ds.StudyDate = "20210601"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "PatientBirthDate" in ds:
        del ds.PatientBirthDate
    ds.BodyPartExamined = "PELVIS"
    return part10(ds)


def _id(response: Any) -> int:
    return int(response["id"])


@pytest.fixture
def world(make_user: Callable[..., User], admin_api: Api) -> World:
    a = admin_api
    alice, bob = Api(make_user("alice")), Api(make_user("bob"))
    ids: dict[str, int] = {}

    def folder(parent: int, name: str, **body: Any) -> int:
        ids[name] = _id(a.ok(a.post("/folders", {"parent_id": parent, "name": name, **body}), 201))
        return ids[name]

    def fileset(parent: int, name: str, **body: Any) -> int:
        made = a.post("/filesets", {"parent_id": parent, "name": name, **body})
        ids[name] = _id(a.ok(made, 201))
        return ids[name]

    def upload(parent: int, name: str, data: bytes) -> int:
        ids[name] = _id(a.ok(a.upload(parent, name, data), 201))
        return ids[name]

    group = a.ok(a.post("/groups", {"name": "radiology", "public": False}), 201)["id"]
    a.ok(a.put(f"/groups/{group}/members/{alice.user.pk}", {"role": "member"}))  # type: ignore[union-attr]
    coll = ids[COLL] = _id(a.ok(a.post("/collections", {"name": COLL}), 201))
    acl = {"entries": [{"user": "root", "level": "admin"}, {"group": "radiology", "level": "read"}]}
    a.ok(a.put(f"/resources/{coll}/acl", acl))

    baseline = folder(coll, "Baseline", description="Thorax CT from the Lodz hospital, cohort A")
    ct42 = fileset(baseline, "CT_thorax_001", sinfonia_id=PID_42)
    a.ok(
        a.put(
            f"/resources/{ct42}/metadata",
            {"scanner": "Siemens", "dose": 2.5, "done": True, "site": "Łódź"},
        )
    )
    upload(
        ct42,
        "slice1.dcm",
        ct(
            StudyDate="20200315",
            BodyPartExamined="CHEST",
            ProtocolName="Thorax routine",
            PatientBirthDate="19700101",
            SliceThickness=1.5,
        ),
    )
    upload(
        ct42,
        "slice2.dcm",
        ct(
            PatientID="SERGAS-0044",
            StudyDate="20200315",
            BodyPartExamined="CHEST",
            PatientBirthDate="19800101",
            SliceThickness=3.0,
        ),
    )
    dose = fileset(baseline, "Dose plan", sinfonia_id=PID_43)
    a.ok(a.put(f"/resources/{dose}/metadata", {"scanner": "Varian", "dose": 1}))
    upload(dose, "rtdose.dcm", rtdose())
    upload(baseline, "report draft.pdf", b"%PDF-1.4 draft" * 100)  # a fileset holding the file

    follow = folder(coll, "Follow-up", sinfonia_id=PID_7)
    upload(follow, "notes.txt", b"plain notes")
    upload(follow, "Ωμέγα report.pdf", b"%PDF-1.4 omega")
    upload(follow, "東京大学 scan.png", b"\x89PNG fake" * 300)
    upload(follow, "Straße.docx", b"docx bytes")
    closed = folder(coll, "Closed Łódź")
    a.ok(a.put(f"/resources/{closed}/acl", {"entries": [{"user": "root", "level": "admin"}]}))
    upload(closed, "secret Lodz.txt", b"secret")
    upload(closed, "hidden.dcm", ct(StudyDate="20200315", BodyPartExamined="CHEST"))

    other = ids["Other"] = _id(a.ok(a.post("/collections", {"name": "Other"}), 201))
    upload(other, "Lodz elsewhere.txt", b"elsewhere")
    upload(other, "elsewhere.dcm", ct(StudyDate="20200315"))
    trashed = fileset(coll, "Lodz trashed")
    a.ok(a.delete(f"/resources/{trashed}"))
    assert run_pollers() >= 1  # index the DICOM files

    # Known creation dates for the date criteria (there is no API to backdate).
    Node.objects.filter(pk=ids["notes.txt"]).update(created_at=datetime(2019, 5, 2, tzinfo=UTC))
    Node.objects.filter(pk=ids["Straße.docx"]).update(
        created_at=datetime(2019, 12, 31, 23, 0, tzinfo=UTC)
    )
    return World(admin=a, alice=alice, bob=bob, ids=ids)
