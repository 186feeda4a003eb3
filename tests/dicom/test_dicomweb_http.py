"""DICOMweb details through Django's test client: status codes, media types, multipart bodies,
authentication, CSRF, STOW destinations and outcomes, and who sees what."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from PIL import Image
from pydicom.uid import generate_uid

from sinfonia.accounts.models import User
from sinfonia.dicom.models import Instance
from sinfonia.resources.models import Kind, Node
from tests.dicom.dicomweb_helpers import (
    BASE,
    STOW_TYPE,
    bundled,
    encode,
    key_client,
    multipart_body,
    read,
    renamed,
    results,
    split_multipart,
    stow,
    value,
    values,
)
from tests.dicom.series import ct_series

CT = bundled("CT_small.dcm")
MR = bundled("MR_small.dcm")
CT_STUDY = read(CT).StudyInstanceUID
CT_SERIES = read(CT).SeriesInstanceUID
CT_SOP = read(CT).SOPInstanceUID
MR_STUDY = read(MR).StudyInstanceUID

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
FAILED, REFERENCED, OTHER, REASON = "00081198", "00081199", "0008119A", "00081197"


@pytest.fixture
def alice(make_user) -> User:
    user: User = make_user("alice")
    return user


@pytest.fixture
def bob(make_user) -> User:
    user: User = make_user("bob")
    return user


@pytest.fixture
def dw(alice) -> Client:
    return key_client(alice)


def ok_stow(client: Client, parts: list[bytes], **kwargs: Any) -> dict[str, Any]:
    response = stow(client, parts, **kwargs)
    assert response.status_code == 200, (response.status_code, response.content[:500])
    body: dict[str, Any] = json.loads(response.content)
    return body


def lookup(api: Any, path: str) -> dict[str, Any]:
    return dict(api.ok(api.client.get("/api/v1/resource/lookup", {"path": path})))


def instance_url(study: str, series: str, sop: str) -> str:
    return f"{BASE}/studies/{study}/series/{series}/instances/{sop}"


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/studies", "/series", "/instances", f"/studies/{CT_STUDY}", f"/studies/{CT_STUDY}/metadata"],
)
def test_anonymous_requests_get_401_with_a_bearer_challenge(db, path):
    response = Client().get(BASE + path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_keys_and_other_schemes_are_refused_without_falling_back_to_the_session(alice):
    for header in ("Bearer sfk_nope_nope", "Basic YWxpY2U6eA==", "Bearer "):
        client = Client(headers={"Authorization": header})
        client.force_login(alice)
        assert client.get(f"{BASE}/studies").status_code == 401, header


def test_the_portal_session_works_and_stow_needs_its_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(f"{BASE}/studies").status_code == 204
    body = multipart_body([CT])
    refused = browser.post(f"{BASE}/studies", data=body, content_type=STOW_TYPE)
    assert refused.status_code == 403
    assert json.loads(refused.content)["code"] == "csrf_failed"
    token = "a" * 32
    browser.cookies["csrftoken"] = token
    allowed = browser.post(
        f"{BASE}/studies", data=body, content_type=STOW_TYPE, headers={"X-CSRFToken": token}
    )
    assert allowed.status_code == 200, allowed.content
    # A Bearer request needs no CSRF token, even from a client that enforces the checks.
    bearer = key_client(alice, enforce_csrf_checks=True)
    response = bearer.post(f"{BASE}/studies", data=multipart_body([MR]), content_type=STOW_TYPE)
    assert response.status_code == 200


def test_wrong_methods_are_405(dw):
    response = dw.delete(f"{BASE}/studies/{CT_STUDY}/metadata")
    assert response.status_code == 405
    assert response["Allow"] == "GET"


# -- STOW-RS ----------------------------------------------------------------------------------


def test_stow_files_instances_into_the_users_dicom_folder_by_default(dw, alice, admin_api):
    body = ok_stow(dw, [CT, MR])
    referenced = body[REFERENCED]["Value"]
    assert [value(item, "00081155") for item in referenced] == [CT_SOP, read(MR).SOPInstanceUID]
    assert value(referenced[0], "00081150") == read(CT).SOPClassUID
    assert value(referenced[0], "00081190").endswith(instance_url(CT_STUDY, CT_SERIES, CT_SOP))
    assert "Value" not in body["00081190"]  # two studies: no single study Retrieve URL
    instance = Instance.objects.select_related("file").get(sop_instance_uid=CT_SOP)
    path = admin_api.ok(admin_api.get(f"/resources/{instance.file_id}"))["path"]
    assert path.startswith("/~alice/DICOM/1CT1/20040119 e+1/")
    assert instance.file.mime_type == "application/dicom"


def test_stow_into_a_named_destination_by_path_or_id(dw, alice, admin_api):
    coll = admin_api.ok(admin_api.post("/collections", {"name": "WP2"}), 201)
    incoming = admin_api.ok(
        admin_api.post("/folders", {"parent_id": coll["id"], "name": "Incoming"}), 201
    )
    # alice may not even see WP2 yet: the same answer as for a missing place
    assert stow(dw, [CT], destination="/WP2/Incoming").status_code == 404
    admin_api.ok(
        admin_api.put(
            f"/resources/{coll['id']}/acl", {"entries": [{"user": "alice", "level": "read"}]}
        )
    )
    assert stow(dw, [CT], destination="/WP2/Incoming").status_code == 403
    admin_api.ok(
        admin_api.put(
            f"/resources/{coll['id']}/acl", {"entries": [{"user": "alice", "level": "write"}]}
        )
    )
    ok_stow(dw, [CT], destination="/WP2/Incoming")
    ok_stow(dw, [MR], destination_id=incoming["id"])
    paths = sorted(
        admin_api.ok(admin_api.get(f"/resources/{i.file_id}"))["path"]
        for i in Instance.objects.all()
    )
    assert [p.split("/")[1:4] for p in paths] == [
        ["WP2", "Incoming", "1CT1"],
        ["WP2", "Incoming", "4MR1"],
    ]
    assert stow(dw, [CT], destination_id="x").status_code == 400


def test_stow_reports_each_refused_part_and_keeps_the_others(dw):
    other_study = renamed(CT, StudyInstanceUID=generate_uid())
    truncated = MR[: len(MR) - 1000]
    response = stow(dw, [CT, other_study, b"not dicom at all", truncated], study=CT_STUDY)
    assert response.status_code == 202, response.content
    assert response["Content-Type"] == "application/dicom+json"
    assert "299 " in response["Warning"] and "A900" in response["Warning"]
    body = json.loads(response.content)
    assert [value(i, "00081155") for i in body[REFERENCED]["Value"]] == [CT_SOP]
    assert value(body, "00081190").endswith(f"{BASE}/studies/{CT_STUDY}")
    failed = {value(i, "00081155"): value(i, REASON) for i in body[FAILED]["Value"]}
    assert failed == {read(other_study).SOPInstanceUID: 0xA900, read(MR).SOPInstanceUID: 0xC000}
    assert [value(i, REASON) for i in body[OTHER]["Value"]] == [0xC000]
    assert Instance.objects.count() == 1
    # nothing of the refused parts stays in the blob store
    from sinfonia.storage.models import Blob

    assert Blob.objects.count() == 1


def test_stow_where_everything_fails_is_409(dw):
    response = stow(dw, [b"garbage", MR], study=CT_STUDY)
    assert response.status_code == 409
    body = json.loads(response.content)
    assert REFERENCED not in body
    assert [value(i, REASON) for i in body[FAILED]["Value"]] == [0xA900]


def test_storing_an_instance_again_is_a_success_and_a_different_one_under_its_uid_is_not(dw):
    ok_stow(dw, [CT])
    again = ok_stow(dw, [CT])
    assert value(again[REFERENCED]["Value"][0], "00081155") == CT_SOP
    assert Instance.objects.count() == 1
    rle = bundled("MR_small_RLE.dcm")  # the same SOP Instance UID as MR_small, other bytes
    ok_stow(dw, [MR])
    response = stow(dw, [rle])
    assert response.status_code == 409
    assert value(json.loads(response.content)[FAILED]["Value"][0], REASON) == 0x0111


def test_one_request_holding_an_instance_twice_stores_it_once(dw):
    rle = bundled("MR_small_RLE.dcm")  # the same SOP Instance UID as MR_small, other bytes
    response = stow(dw, [CT, MR, CT, rle])
    assert response.status_code == 202, response.content
    body = json.loads(response.content)
    sops = [value(i, "00081155") for i in body[REFERENCED]["Value"]]
    assert sops == [CT_SOP, read(MR).SOPInstanceUID, CT_SOP]
    assert [value(i, REASON) for i in body[FAILED]["Value"]] == [0x0111]
    assert Instance.objects.count() == 2


def test_a_large_stow_request_is_indexed_in_few_queries_with_an_audit_event_per_file(dw):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sinfonia.audit.models import AuditEvent
    from sinfonia.dicom.models import IndexState

    ok_stow(dw, [encode(ds) for ds in ct_series(1, patient_id="Q-0")])  # the DICOM folder
    parts = [
        encode(ds)
        for n in range(3)
        for ds in ct_series(40, patient_id="Q-1", series_number=n + 1, study_uid=CT_STUDY)
    ]
    uploads = AuditEvent.objects.filter(action="file.upload").count()
    with CaptureQueriesContext(connection) as queries:
        body = ok_stow(dw, parts)
    assert len(body[REFERENCED]["Value"]) == 120
    # Folders for one patient, one study and three series, then a few queries per batch of
    # instances: fewer than one per instance (it was about 20 per instance).
    assert len(queries) < 80, "\n".join(q["sql"][:150] for q in queries)  # 68 on SQLite
    assert AuditEvent.objects.filter(action="file.upload").count() == uploads + 120
    assert IndexState.objects.filter(state="dicom").count() == 121
    assert Instance.objects.filter(series__study__study_instance_uid=CT_STUDY).count() == 120
    # Still one answer per instance when stored again, and nothing new.
    again = ok_stow(dw, parts[:5])
    assert len(again[REFERENCED]["Value"]) == 5
    assert Instance.objects.count() == 121


def test_a_batch_finds_or_makes_its_patient_study_and_series_rows(dw):
    from sinfonia.dicom.models import Patient, Series, Study

    known_study = generate_uid()
    ok_stow(dw, [encode(ds) for ds in ct_series(2, patient_id="M-1", study_uid=known_study)])
    new_study, third_study = generate_uid(), generate_uid()
    batch = [
        *ct_series(2, patient_id="M-1", study_uid=known_study, series_number=3),  # new series
        *ct_series(2, patient_id="M-1", study_uid=new_study),  # known patient, new study
        *ct_series(2, patient_id="M-2", study_uid=third_study),  # a new patient
        *ct_series(2, patient_id="M-2", study_uid=third_study, series_number=4),
    ]
    body = ok_stow(dw, [encode(ds) for ds in batch])
    assert len(body[REFERENCED]["Value"]) == 8
    assert sorted(Patient.objects.values_list("patient_id", flat=True)) == ["M-1", "M-2"]
    assert dict(Study.objects.values_list("study_instance_uid", "patient__patient_id")) == {
        known_study: "M-1",
        new_study: "M-1",
        third_study: "M-2",
    }
    counts = {
        uid: Series.objects.filter(study__study_instance_uid=uid).count()
        for uid in (known_study, new_study, third_study)
    }
    assert counts == {known_study: 2, new_study: 1, third_study: 2}
    for ds in batch:
        instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        assert instance.series.series_instance_uid == ds.SeriesInstanceUID
        assert instance.series.study.study_instance_uid == ds.StudyInstanceUID


def test_a_series_that_cannot_be_filed_costs_the_others_nothing(dw, alice):
    from sinfonia.core.context import Actor
    from sinfonia.resources.services import tree

    ok_stow(dw, [encode(ds) for ds in ct_series(1, patient_id="F-0")])  # the DICOM folder
    dicom = Node.objects.get(name="DICOM", parent__home_of=alice)
    tree.create_fileset(Actor(user=alice, channel="test"), dicom, "F-1")  # holds the name
    parts = [
        encode(ds)
        for patient in ("F-1", "F-2")
        for ds in ct_series(3, patient_id=patient, series_number=1)
    ]
    response = stow(dw, parts)
    assert response.status_code == 202
    body = json.loads(response.content)
    assert len(body[REFERENCED]["Value"]) == 3 and len(body[FAILED]["Value"]) == 3
    assert "F-1" in response["Warning"] and "is a fileset" in response["Warning"]
    filed = Node.objects.get(parent=dicom, name="F-2")
    assert Node.objects.filter(parent__parent=filed, kind=Kind.FILESET).count() == 1
    assert Instance.objects.count() == 4


def _leftovers() -> list[str]:
    from django.conf import settings

    return sorted(p.name for p in Path(settings.SINFONIA_TMP_DIR).glob("blob-*"))


def test_parts_stored_from_memory_or_from_their_file_alike_in_small_batches(dw, monkeypatch):
    from sinfonia.dicom.dicomweb import stow as stow_view
    from sinfonia.storage.models import Blob

    # MR_small (~10 kB) stays in memory, CT_small (~39 kB) does not; at most 20 kB are held,
    # so the request is indexed in several batches.
    monkeypatch.setattr(stow_view, "SMALL", 20_000)
    monkeypatch.setattr(stow_view, "HELD", 20_000)
    series = [encode(ds) for ds in ct_series(3, patient_id="S-1")]
    body = ok_stow(dw, [CT, MR, *series])
    assert len(body[REFERENCED]["Value"]) == 5
    assert Instance.objects.count() == 5
    assert Blob.objects.count() == 5
    assert _leftovers() == []
    for sent in (CT, MR, *series):  # stored as sent, from memory or from the file
        assert Blob.objects.filter(sha256=hashlib.sha256(sent).hexdigest()).exists()


def test_a_batch_whose_bytes_cannot_be_made_durable_stores_nothing(dw, monkeypatch):
    import errno

    from sinfonia.storage import blobstore
    from sinfonia.storage.models import Blob

    def full(folder: Path) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(blobstore, "_sync_file_system", full)
    response = stow(dw, [CT, MR])
    assert response.status_code == 409
    reasons = [value(i, REASON) for i in json.loads(response.content)[OTHER]["Value"]]
    assert reasons == [0xA700, 0xA700]  # out of resources
    assert Instance.objects.count() == 0 and Blob.objects.count() == 0
    assert _leftovers() == []
    assert [p for p in Path(blobstore.blob_dir()).rglob("*") if p.is_file()] == []


def test_without_syncfs_each_file_is_synced_on_its_own(dw, monkeypatch):
    from sinfonia.storage import blobstore

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(blobstore, "_SYNCFS", None)
    monkeypatch.setattr(os, "fsync", fsync)
    ok_stow(dw, [CT, MR])
    assert len([p for p in synced if "/blob-" in p]) == 2
    assert Instance.objects.count() == 2


def test_stow_refuses_bodies_it_cannot_read(dw):
    url = f"{BASE}/studies"
    assert dw.post(url, data=CT, content_type="application/dicom").status_code == 415
    json_type = 'multipart/related; type="application/dicom+json"; boundary=x'
    assert dw.post(url, data=b"--x--", content_type=json_type).status_code == 415
    no_boundary = 'multipart/related; type="application/dicom"'
    assert dw.post(url, data=b"--x--", content_type=no_boundary).status_code == 400
    assert dw.post(url, data=b"no parts here", content_type=STOW_TYPE).status_code == 400
    empty = f"--{STOW_TYPE.rsplit('=', 1)[1]}--\r\n".encode()
    assert dw.post(url, data=empty, content_type=STOW_TYPE).status_code == 400


# -- QIDO-RS ----------------------------------------------------------------------------------


def test_nothing_stored_answers_204(dw):
    for path in ("/studies", "/series", "/instances", f"/studies/{CT_STUDY}/series"):
        response = dw.get(BASE + path)
        assert response.status_code == 204 and response.content == b"", path


def test_study_results_carry_the_required_attributes(dw):
    series = ct_series(3, patient_id="P-7", study_date="20240101")
    ok_stow(dw, [CT, MR, *(encode(ds) for ds in series)])
    (ct,) = results(dw.get(f"{BASE}/studies", {"PatientID": "1CT1"}))
    assert value(ct, STUDY_UID) == CT_STUDY
    assert value(ct, "00100010") == "CompressedSamples^CT1"
    assert values(ct, "00080061") == ["CT"]
    assert value(ct, "00201206") == 1 and value(ct, "00201208") == 1
    assert value(ct, "00081190").endswith(f"{BASE}/studies/{CT_STUDY}")
    for tag in ("00080020", "00080030", "00080050", "00080090", "00100030", "00100040"):
        assert tag in ct, tag
    (generated,) = results(dw.get(f"{BASE}/studies", {"00100020": "P-7"}))
    assert value(generated, "00201208") == 3


def test_matching_by_keyword_tag_wildcard_range_and_uid_list(dw):
    ok_stow(dw, [CT, MR, *(encode(ds) for ds in ct_series(2, patient_id="ZZ-1"))])

    def uids(**params: str) -> set[str]:
        return {value(r, STUDY_UID) for r in results(dw.get(f"{BASE}/studies", params))}

    assert uids(PatientName="compressedsamples*") == {CT_STUDY, MR_STUDY}  # PN: any case
    assert uids(PatientID="?CT1") == {CT_STUDY}
    assert uids(StudyDate="20040101-20040131") == {CT_STUDY}
    assert uids(StudyDate="-20041231") == {CT_STUDY, MR_STUDY}
    assert uids(ModalitiesInStudy="MR") == {MR_STUDY}
    assert uids(StudyInstanceUID=f"{CT_STUDY},{MR_STUDY}") == {CT_STUDY, MR_STUDY}
    assert uids(**{"0020000D": CT_STUDY}) == {CT_STUDY}
    assert uids(PatientID="nobody") == set()
    series = results(dw.get(f"{BASE}/series", {"Modality": "MR"}))
    assert [value(s, "00080060") for s in series] == ["MR"]
    assert value(series[0], "00100020") == "4MR1"  # All Series: study attributes too
    assert value(series[0], "00201209") == 1


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"PatientAge": "040Y"}, 400),  # not a matching key this server supports
        ({"Modality": "CT"}, 400),  # a series attribute at the study level
        ({"OtherPatientIDsSequence.PatientID": "x"}, 400),
        ({"FFFF0001": "x"}, 400),
        ({"NotAKeyword": "x"}, 400),
        ({"limit": "-1"}, 400),
        ({"offset": "x"}, 400),
    ],
)
def test_bad_queries_are_400(dw, params, status):
    ok_stow(dw, [CT])
    response = dw.get(f"{BASE}/studies", params)
    assert response.status_code == status, response.content


def test_search_results_are_only_dicom_json(dw):
    ok_stow(dw, [CT])
    xml = 'multipart/related; type="application/dicom+xml"'
    assert dw.get(f"{BASE}/studies", headers={"Accept": xml}).status_code == 406
    response = dw.get(f"{BASE}/studies", headers={"Accept": "application/json"})
    assert response.status_code == 200


def test_limit_offset_and_the_warning_about_more_results(dw):
    studies = [ct_series(1, patient_id=f"PAGE-{i}", study_date=f"2023010{i}") for i in range(5)]
    ok_stow(dw, [encode(s[0]) for s in studies])
    first = dw.get(f"{BASE}/studies", {"limit": 2})
    assert "There are 3 additional results" in first["Warning"]
    page = [value(r, "00100020") for r in results(first)]
    rest = [value(r, "00100020") for r in results(dw.get(f"{BASE}/studies", {"offset": 2}))]
    assert page == ["PAGE-4", "PAGE-3"]  # newest first
    assert rest == ["PAGE-2", "PAGE-1", "PAGE-0"]
    assert "Warning" not in dw.get(f"{BASE}/studies", {"offset": 2})
    assert dw.get(f"{BASE}/studies", {"offset": 5}).status_code == 204


def test_includefield_takes_values_from_the_header_at_the_right_level(dw):
    ok_stow(dw, [CT])
    (study,) = results(
        dw.get(f"{BASE}/studies", {"includefield": ["00101010,PatientWeight", "Manufacturer"]})
    )
    assert value(study, "00101010") == "000Y"  # Patient's Age: study level
    assert "00101030" in study
    assert "00080070" not in study  # Manufacturer is a series attribute: never at study level
    (series,) = results(
        dw.get(f"{BASE}/studies/{CT_STUDY}/series", {"includefield": "Manufacturer"})
    )
    assert value(series, "00080070") == "GE MEDICAL SYSTEMS"
    (everything,) = results(
        dw.get(f"{BASE}/studies/{CT_STUDY}/series/{CT_SERIES}/instances", {"includefield": "all"})
    )
    assert value(everything, "00180050") is not None  # Slice Thickness, from the header
    assert value(everything, "00280010") == 128 and value(everything, "00280100") == 16
    assert value(everything, "00083002") == "1.2.840.10008.1.2.1"
    (private,) = results(
        dw.get(f"{BASE}/instances", {"includefield": "00091001,00099999", "PatientID": "1CT1"})
    )
    assert value(private, "00091001") == "GE_GENESIS_FF"  # private: no keyword, from the header
    assert "00099999" not in private
    (all_study,) = results(dw.get(f"{BASE}/studies", {"includefield": "all"}))
    assert "00101010" in all_study and "00180050" not in all_study


def test_instances_of_a_series_come_in_display_order(dw):
    series = ct_series(6)
    # Instance Numbers 3, 1, (none), 2, (none), (none): numbered first, then by position.
    numbers = [3, 1, None, 2, None, None]
    for ds, number in zip(series, numbers, strict=True):
        if number is None:
            del ds.InstanceNumber
        else:
            ds.InstanceNumber = number
    series[2].ImagePositionPatient = [0.0, 0.0, 50.0]
    series[4].ImagePositionPatient = [0.0, 0.0, -50.0]
    ok_stow(dw, [encode(ds) for ds in reversed(series)])
    study, uid = series[0].StudyInstanceUID, series[0].SeriesInstanceUID
    listed = results(dw.get(f"{BASE}/studies/{study}/series/{uid}/instances"))
    expected = [series[i].SOPInstanceUID for i in (1, 3, 0, 4, 5, 2)]
    assert [value(r, SOP_UID) for r in listed] == expected
    assert all(value(r, SERIES_UID) == uid and value(r, STUDY_UID) == study for r in listed)
    # the same order from a WADO-RS series retrieve
    parts = split_multipart(dw.get(f"{BASE}/studies/{study}/series/{uid}"))
    assert [read(content).SOPInstanceUID for _, content in parts] == expected


# -- WADO-RS ----------------------------------------------------------------------------------


def test_retrieve_streams_the_stored_files_as_multipart_related(dw):
    rle = renamed(bundled("MR_small_RLE.dcm"))
    ok_stow(dw, [CT, rle])
    response = dw.get(f"{BASE}/studies/{CT_STUDY}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith('multipart/related; type="application/dicom"; ')
    ((headers, content),) = split_multipart(response)
    assert headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert headers["content-length"] == str(len(CT))
    assert content == CT
    rle_ds = read(rle)
    url = instance_url(rle_ds.StudyInstanceUID, rle_ds.SeriesInstanceUID, rle_ds.SOPInstanceUID)
    ((headers, content),) = split_multipart(dw.get(url))
    assert content == rle and headers["content-type"].endswith("1.2.840.10008.1.2.5")
    # a client that wants Explicit VR Little Endian gets the RLE instance decompressed
    ele = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'
    ((headers, content),) = split_multipart(dw.get(url, headers={"Accept": ele}))
    converted = read(content)
    assert converted.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert (converted.pixel_array == rle_ds.pixel_array).all()
    jpeg = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
    assert dw.get(url, headers={"Accept": jpeg}).status_code == 406
    assert dw.get(url, headers={"Accept": "application/dicom+json"}).status_code == 406


def test_metadata_is_the_header_with_a_pixel_data_bulk_data_uri(dw):
    ok_stow(dw, [CT, bundled("rtplan.dcm")])
    response = dw.get(f"{instance_url(CT_STUDY, CT_SERIES, CT_SOP)}/metadata")
    assert response["Content-Type"] == "application/dicom+json"
    (meta,) = json.loads(response.content)
    assert value(meta, SOP_UID) == CT_SOP and value(meta, "00100010") == "CompressedSamples^CT1"
    pixel = meta["7FE00010"]
    assert pixel["vr"] == "OW"
    assert pixel["BulkDataURI"].endswith(
        f"{instance_url(CT_STUDY, CT_SERIES, CT_SOP)}/bulkdata/7FE00010"
    )
    bulk = split_multipart(dw.get(pixel["BulkDataURI"].removeprefix("http://testserver")))
    assert [c for _, c in bulk] == [read(CT).PixelData]
    plan = read(bundled("rtplan.dcm"))
    (plan_meta,) = json.loads(dw.get(f"{BASE}/studies/{plan.StudyInstanceUID}/metadata").content)
    assert "7FE00010" not in plan_meta
    assert value(plan_meta, "300A0002") == plan.RTPlanLabel


def test_frames_native_by_default_and_as_stored_on_request(dw):
    dose, j2k = bundled("rtdose.dcm"), bundled("JPEG2000.dcm")
    ok_stow(dw, [dose, j2k])
    d = read(dose)
    url = instance_url(d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID)
    response = dw.get(f"{url}/frames/3,1")
    assert response["Content-Type"].startswith('multipart/related; type="application/octet-stream"')
    frame_bytes = d.Rows * d.Columns * 4
    parts = split_multipart(response)
    assert [c for _, c in parts] == [
        d.PixelData[2 * frame_bytes : 3 * frame_bytes],
        d.PixelData[:frame_bytes],
    ]
    assert parts[0][0]["content-type"] == (
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    )
    assert dw.get(f"{url}/frames/16").status_code == 404
    assert dw.get(f"{url}/frames/0").status_code == 400
    assert dw.get(f"{url}/frames/a,b").status_code == 400
    jpeg_only = 'multipart/related; type="image/jpeg"'
    assert dw.get(f"{url}/frames/1", headers={"Accept": jpeg_only}).status_code == 406
    assert dw.get(f"{url}/frames/1", headers={"Accept": "image/jpeg"}).status_code == 406
    # a single-part body for clients that ask for application/octet-stream alone
    single = dw.get(f"{url}/bulkdata/7FE00010", headers={"Accept": "application/octet-stream"})
    assert single["Content-Type"].startswith("application/octet-stream")
    assert b"".join(single.streaming_content) == d.PixelData

    j = read(j2k)
    url = instance_url(j.StudyInstanceUID, j.SeriesInstanceUID, j.SOPInstanceUID)
    ((headers, native),) = split_multipart(dw.get(f"{url}/frames/1"))
    assert native == j.pixel_array.astype("<u2").tobytes()
    any_syntax = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    ((headers, stored),) = split_multipart(
        dw.get(f"{url}/frames/1", headers={"Accept": any_syntax})
    )
    assert headers["content-type"] == "image/jp2; transfer-syntax=1.2.840.10008.1.2.4.91"
    assert stored.startswith(b"\xff\x4f\xff\x51")  # a JPEG 2000 codestream (SOC, SIZ)
    named = 'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.91'
    ((_, again),) = split_multipart(dw.get(f"{url}/frames/1", headers={"Accept": named}))
    assert again == stored


def test_rendered_and_thumbnails_are_png(dw):
    ok_stow(dw, [CT, bundled("rtplan.dcm")])
    url = instance_url(CT_STUDY, CT_SERIES, CT_SOP)
    response = dw.get(f"{url}/rendered", {"window": "40,400,linear", "viewport": "64,32"})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (32, 32)
    full = Image.open(io.BytesIO(dw.get(f"{url}/frames/1/rendered").content))
    assert full.size == (128, 128)
    for path in (f"{url}/thumbnail", f"{BASE}/studies/{CT_STUDY}/thumbnail"):
        thumb = dw.get(path)
        assert thumb["Content-Type"] == "image/png", path
        assert max(Image.open(io.BytesIO(thumb.content)).size) == 128
    assert dw.get(f"{url}/rendered", {"window": "40,400"}).status_code == 400
    assert dw.get(f"{url}/rendered", {"window": "40,0,linear"}).status_code == 400
    assert dw.get(f"{url}/rendered", {"viewport": "x"}).status_code == 400
    assert dw.get(f"{url}/rendered", headers={"Accept": "image/jpeg"}).status_code == 406
    plan = read(bundled("rtplan.dcm"))
    plan_url = instance_url(plan.StudyInstanceUID, plan.SeriesInstanceUID, plan.SOPInstanceUID)
    assert dw.get(f"{plan_url}/rendered").status_code == 406


# -- who sees what ----------------------------------------------------------------------------


def test_access_follows_the_files(dw, alice, bob, admin_api):
    ok_stow(dw, [CT, MR])
    theirs = key_client(bob)
    assert theirs.get(f"{BASE}/studies").status_code == 204
    assert theirs.get(f"{BASE}/instances").status_code == 204
    ct_url = instance_url(CT_STUDY, CT_SERIES, CT_SOP)
    for path in (
        f"{BASE}/studies/{CT_STUDY}",
        f"{BASE}/studies/{CT_STUDY}/metadata",
        ct_url,
        f"{ct_url}/frames/1",
        f"{ct_url}/rendered",
        f"{BASE}/studies/{CT_STUDY}/thumbnail",
    ):
        assert theirs.get(path).status_code == 404, path
    # read access on the CT patient's folder shows exactly its instances
    folder = lookup(admin_api, "/~alice/DICOM/1CT1")
    grants = [{"user": "alice", "level": "admin"}, {"user": "bob", "level": "read"}]
    admin_api.ok(admin_api.put(f"/resources/{folder['id']}/acl", {"entries": grants}))
    assert [value(r, SOP_UID) for r in results(theirs.get(f"{BASE}/instances"))] == [CT_SOP]
    assert [value(r, STUDY_UID) for r in results(theirs.get(f"{BASE}/studies"))] == [CT_STUDY]
    assert split_multipart(theirs.get(ct_url))[0][1] == CT
    assert theirs.get(f"{BASE}/studies/{MR_STUDY}/metadata").status_code == 404
    # bob may read but not write there
    response = stow(theirs, [renamed(CT)], destination="/~alice/DICOM/1CT1")
    assert response.status_code == 403
    # moved to the recycle bin: gone from every answer at once
    file_id = Instance.objects.get(sop_instance_uid=CT_SOP).file_id
    assert dw.delete(f"/api/v1/resources/{file_id}").status_code == 200
    assert theirs.get(f"{BASE}/studies").status_code == 204
    assert theirs.get(ct_url).status_code == 404
    assert [value(r, STUDY_UID) for r in results(dw.get(f"{BASE}/studies"))] == [MR_STUDY]


def test_a_copied_instance_is_answered_once(dw, admin_api):
    ok_stow(dw, [CT])
    file_id = Instance.objects.get(sop_instance_uid=CT_SOP).file_id
    home = lookup(admin_api, "/~alice")
    copies = dw.post(
        "/api/v1/folders",
        {"parent_id": home["id"], "name": "Copies"},
        content_type="application/json",
    )
    target = json.loads(copies.content)
    copied = dw.post(
        "/api/v1/resources/copy",
        {"sources": [file_id], "destination_id": target["id"]},
        content_type="application/json",
    )
    assert copied.status_code == 201, copied.content
    from sinfonia.transfers.services.operations import run_pollers

    run_pollers()
    assert Instance.objects.filter(sop_instance_uid=CT_SOP).count() == 2
    assert len(results(dw.get(f"{BASE}/instances"))) == 1
    (study,) = results(dw.get(f"{BASE}/studies"))
    assert value(study, "00201208") == 1
    (series,) = results(dw.get(f"{BASE}/studies/{CT_STUDY}/series"))
    assert value(series, "00201209") == 1
    assert len(split_multipart(dw.get(f"{BASE}/studies/{CT_STUDY}"))) == 1
    assert len(json.loads(dw.get(f"{BASE}/studies/{CT_STUDY}/metadata").content)) == 1


def test_study_figures_count_visible_series_modalities_and_instances(dw, alice, api_for):
    ct = ct_series(3, patient_id="N-1")
    pt = ct_series(2, patient_id="N-1", study_uid=ct[0].StudyInstanceUID, series_number=3)
    for ds in pt:
        ds.Modality = "PT"
    ok_stow(dw, [encode(ds) for ds in ct + pt])

    def figures() -> tuple[Any, Any, list[Any]]:
        (row,) = results(dw.get(f"{BASE}/studies", {"PatientID": "N-1"}))
        return value(row, "00201206"), value(row, "00201208"), sorted(values(row, "00080061"))

    assert figures() == (2, 5, ["CT", "PT"])
    (series,) = results(dw.get(f"{BASE}/series", {"Modality": "PT"}))
    assert value(series, "00201209") == 2
    api = api_for(alice)
    pt_files = Instance.objects.filter(series__modality="PT").order_by("pk")
    api.ok(api.delete(f"/resources/{pt_files[0].file_id}"))
    assert figures() == (2, 4, ["CT", "PT"])
    api.ok(api.delete(f"/resources/{pt_files[1].file_id}"))
    assert figures() == (1, 3, ["CT"])


def test_searches_cost_the_same_number_of_queries_for_any_page_size(dw):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def cost(path: str, params: dict[str, Any]) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert dw.get(path, params).status_code == 200
        return len(queries)

    ok_stow(dw, [encode(ds) for ds in ct_series(2, patient_id="Q-1")])
    small = [cost(f"{BASE}/{what}", {"includefield": "all"}) for what in ("studies", "series")]
    small.append(cost(f"{BASE}/instances", {"includefield": "all"}))
    ok_stow(dw, [encode(ds) for n in range(2, 6) for ds in ct_series(3, patient_id=f"Q-{n}")])
    large = [cost(f"{BASE}/{what}", {"includefield": "all"}) for what in ("studies", "series")]
    large.append(cost(f"{BASE}/instances", {"includefield": "all"}))
    assert small == large


def test_every_retrieve_is_audited_once(dw):
    from sinfonia.audit.models import AuditEvent

    ok_stow(dw, [CT])
    url = instance_url(CT_STUDY, CT_SERIES, CT_SOP)
    for path in (
        f"{BASE}/studies/{CT_STUDY}",
        f"{url}/metadata",
        f"{url}/frames/1",
        f"{url}/rendered",
    ):
        response = dw.get(path)
        assert response.status_code == 200
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    events = AuditEvent.objects.filter(action="dicom.retrieve").order_by("id")
    assert [e.detail["purpose"] for e in events] == ["instances", "metadata", "frames", "rendered"]
    assert {e.channel for e in events} == {"dicomweb"}
    assert all(e.username == "alice" and e.detail["study"] == CT_STUDY for e in events)
    assert events[0].path.startswith("/~alice/DICOM/1CT1/")


def test_instance_urls_are_the_reversed_ones():
    from django.test import RequestFactory

    from sinfonia.dicom.dicomweb.common import instance_urls, url

    request = RequestFactory().post(f"{BASE}/studies", HTTP_HOST="testserver")
    make = instance_urls(request)
    for uids in [(CT_STUDY, CT_SERIES, CT_SOP), ("1.2 3", "x~y:z", "(é)@1@?#%")]:
        assert make(*uids) == url(request, "instance", *uids)
    assert make("a/b", "1", "2").endswith("/studies/a%2Fb/series/1/instances/2")
