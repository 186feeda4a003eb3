"""Every file that enters is looked at by the indexer: DICOM is indexed, the rest stays a file."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest
from django.db import OperationalError
from pydicom.data import get_testdata_file

from sinfonia.core.context import Actor
from sinfonia.dicom import query
from sinfonia.transfers.services.operations import run_pollers
from tests.dicom.series import ct_series, part10


def bundled(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


@pytest.fixture
def place(admin_api):
    coll = admin_api.ok(admin_api.post("/collections", {"name": "Imaging"}), 201)
    return admin_api.ok(admin_api.post("/folders", {"parent_id": coll["id"], "name": "In"}), 201)


def upload(api, parent_id, name, data, **fields):
    return api.ok(api.upload(parent_id, name, data, **fields), 201)


def index_of(api, file_id):
    return api.ok(api.get(f"/files/{file_id}/dicom"))


def test_uploaded_dicom_is_indexed_in_the_background(admin_api, place):
    f = upload(admin_api, place["id"], "CT_small.dcm", bundled("CT_small.dcm"))
    assert index_of(admin_api, f["id"])["state"] == "pending"
    assert run_pollers() >= 1
    index = index_of(admin_api, f["id"])
    assert index["state"] == "dicom"
    assert index["instance"]["modality"] == "CT"
    assert index["instance"]["patient_id"] == "1CT1"
    assert index["instance"]["rows"] == 128


def test_other_files_stay_files_and_bad_dicom_is_flagged(admin_api, place):
    text = upload(admin_api, place["id"], "notes.txt", b"not an image")
    ct = bundled("CT_small.dcm")
    truncated = upload(admin_api, place["id"], "truncated.dcm", ct[:700])
    garbage = upload(admin_api, place["id"], "garbage.dcm", b"\0" * 128 + b"DICM" + b"\xff" * 300)
    run_pollers()
    assert index_of(admin_api, text["id"])["state"] == "not_dicom"
    for f in (truncated, garbage):
        index = index_of(admin_api, f["id"])
        assert index["state"] == "error", index
        assert index["error"]
        # the bytes are kept and still downloadable
        response = admin_api.get(f"/files/{f['id']}/download")
        assert response.status_code == 200


def test_dicomdir_is_recognised(admin_api, place):
    f = upload(admin_api, place["id"], "DICOMDIR", bundled("DICOMDIR"))
    run_pollers()
    index = index_of(admin_api, f["id"])
    assert index["state"] == "dicomdir"
    assert index["detail"]["records"] > 0


def test_duplicate_sop_instance_uids_are_reported(admin_api, place):
    [ds] = ct_series(1)
    first = upload(admin_api, place["id"], "a.dcm", part10(ds))
    same = upload(admin_api, place["id"], "b.dcm", part10(ds))
    ds.SeriesDescription = "changed, same UID"
    other = upload(admin_api, place["id"], "c.dcm", part10(ds))
    run_pollers()
    assert index_of(admin_api, same["id"])["detail"]["duplicates"] == [first["id"]]
    assert index_of(admin_api, other["id"])["detail"]["conflict"] is True
    [report] = admin_api.ok(admin_api.get("/dicom/duplicates"))
    assert set(report["file_ids"]) == {first["id"], same["id"], other["id"]}
    assert report["conflict"] is True


def test_auto_organisation_files_dicom_by_patient_study_series(admin_api, place):
    series = ct_series(3, patient_id="P-77", description="T1 axial", series_number=3)
    for i, ds in enumerate(reversed(series)):
        upload(admin_api, place["id"], f"upload-{i}.dcm", part10(ds), organise="true")
    run_pollers()
    path = "/Imaging/In/P-77/20240317 CT chest/003 CT T1 axial"
    fileset = admin_api.ok(admin_api.get("/resource/lookup?path=" + quote(path)))
    assert fileset["kind"] == "fileset"
    assert fileset["summary"]["files"] == 3
    names = [
        c["name"]
        for c in admin_api.ok(admin_api.get(f"/resources/{place['id']}/children"))["items"]
    ]
    assert names == ["P-77"]  # the per-upload filesets are gone
    # series order follows Instance Number, not file names
    uid = str(series[0].SeriesInstanceUID)
    ordered = admin_api.ok(admin_api.get(f"/dicom/series/{uid}/instances"))
    assert [o["instance_number"] for o in ordered] == [1, 2, 3]


def test_queries_see_exactly_the_readable_instances(admin_api, place, make_user, api_for):
    coll_id = admin_api.ok(admin_api.get(f"/resources/{place['id']}"))["breadcrumb"][0]["id"]
    open_ = admin_api.ok(admin_api.post("/folders", {"parent_id": coll_id, "name": "Open"}), 201)
    reader = make_user("radiographer")
    admin_api.ok(
        admin_api.put(
            f"/resources/{open_['id']}/acl",
            {
                "entries": [
                    {"user": "root", "level": "admin"},
                    {"user": "radiographer", "level": "read"},
                ]
            },
        )
    )
    visible_series = ct_series(2, patient_id="SEEN")
    hidden_series = ct_series(2, patient_id="HIDDEN")
    for ds in visible_series:
        upload(admin_api, open_["id"], f"{ds.SOPInstanceUID}.dcm", part10(ds))
    for ds in hidden_series:
        upload(admin_api, place["id"], f"{ds.SOPInstanceUID}.dcm", part10(ds))
    run_pollers()
    actor = Actor(user=reader, channel="test")
    studies = query.search(actor, "study", {})
    assert [s.patient.patient_id for s in studies] == ["SEEN"]
    assert query.search(actor, "instance", {"PatientID": "HIDDEN"}).count() == 0
    admin = Actor(user=None, channel="test", system=True)
    assert query.search(admin, "study", {"PatientID": "HID*"}).count() == 1
    # a deleted file leaves the index's answers at once
    some = admin_api.ok(admin_api.get(f"/resources/{open_['id']}/children"))["items"][0]
    admin_api.ok(admin_api.delete(f"/resources/{some['id']}"))
    assert query.search(actor, "instance", {}).count() == 1


def test_copies_are_indexed_without_rereading(admin_api, place):
    [ds] = ct_series(1)
    f = upload(admin_api, place["id"], "one.dcm", part10(ds))
    run_pollers()
    dest = admin_api.ok(admin_api.post("/folders", {"parent_id": place["id"], "name": "Copy"}), 201)
    fileset = admin_api.ok(admin_api.get(f"/resources/{f['id']}"))["parent_id"]
    [copy] = admin_api.ok(
        admin_api.post("/resources/copy", {"sources": [fileset], "destination_id": dest["id"]}), 201
    )
    copied_file = admin_api.ok(admin_api.get(f"/resources/{copy['id']}/children"))["items"][0]
    index = index_of(admin_api, copied_file["id"])
    assert index["state"] == "dicom"
    assert index["instance"]["sop_instance_uid"] == str(ds.SOPInstanceUID)


def test_tags_are_listed_and_searchable(admin_api, place):
    f = upload(admin_api, place["id"], "MR_small.dcm", bundled("MR_small.dcm"))
    run_pollers()
    tags = admin_api.ok(admin_api.get(f"/files/{f['id']}/dicom/tags"))
    assert any(t["keyword"] == "Modality" and t["value"] == "MR" for t in tags)
    found = admin_api.ok(admin_api.get(f"/files/{f['id']}/dicom/tags?q=modality"))
    assert found and all(
        "odality" in (t["keyword"] + t["name"]) or "MR" in str(t["value"]) for t in found
    )


def test_rendering_and_rt_summaries(admin_api, place):
    ct = upload(admin_api, place["id"], "CT_small.dcm", bundled("CT_small.dcm"))
    plan = upload(admin_api, place["id"], "rtplan.dcm", bundled("rtplan.dcm"))
    run_pollers()
    png = admin_api.get(f"/files/{ct['id']}/dicom/rendered?size=64")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    refused = admin_api.get(f"/files/{plan['id']}/dicom/rendered")
    assert refused.status_code == 400
    summary = admin_api.ok(admin_api.get(f"/files/{plan['id']}/dicom/summary"))
    assert summary  # beams and prescription, see tests/dicom/test_render.py for details


def test_rtdose_summary_reports_the_maximum_dose(admin_api, place):
    dose = upload(admin_api, place["id"], "rtdose.dcm", bundled("rtdose.dcm"))
    run_pollers()
    summary = admin_api.ok(admin_api.get(f"/files/{dose['id']}/dicom/summary"))
    assert summary["kind"] == "rtdose"
    assert summary["max_dose"] is not None and summary["max_dose"] > 0


T = TypeVar("T")


def beside_threads(read: Callable[[], T]) -> T:
    """``read()``, tried again while SQLite answers "table is locked": the in-memory test
    database shares one cache between connections, and a table another thread is writing is
    refused at once there (no busy wait) instead of waited for."""
    for _ in range(200):
        try:
            return read()
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.02)
    return read()


@pytest.mark.django_db(transaction=True)
def test_a_long_operation_does_not_hold_up_indexing(transactional_db, admin_api, place):
    """`sinfonia serve` runs the DICOM indexer beside the operations worker, not behind it."""
    import threading

    from sinfonia.transfers.models import Operation, Status
    from sinfonia.transfers.services import operations

    release = threading.Event()

    def block(actor, params, progress):
        release.wait(30)
        return {}

    operations.HANDLERS["test.block"] = block
    stop = threading.Event()
    threads = [
        threading.Thread(target=loop, args=(stop, 0.05), daemon=True)
        for loop in (operations.worker_loop, operations.poller_loop)
    ]
    try:
        op = operations.enqueue(Actor(user=admin_api.user, channel="api"), "test.block", {})
        for thread in threads:
            thread.start()

        def status() -> Status:
            return Status(beside_threads(lambda: Operation.objects.get(pk=op.pk).status))

        deadline = time.monotonic() + 10
        while status() != Status.RUNNING:
            assert time.monotonic() < deadline, "the operation did not start"
            time.sleep(0.05)
        f = beside_threads(
            lambda: upload(admin_api, place["id"], "CT_small.dcm", bundled("CT_small.dcm"))
        )
        while beside_threads(lambda: index_of(admin_api, f["id"]))["state"] != "dicom":
            assert time.monotonic() < deadline, "indexing waited for the operation"
            time.sleep(0.05)
        assert status() == Status.RUNNING
    finally:
        release.set()
        stop.set()
        operations.wake()
        for thread in threads:
            thread.join(10)
        del operations.HANDLERS["test.block"]
