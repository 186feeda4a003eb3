"""The DIMSE front-end through real DCMTK clients (echoscu, storescu, findscu, getscu, movescu,
storescp) against a live ``sinfonia serve``; the remote-AE configuration through REST and CLI;
the status translator on its own.

On the PostgreSQL run the live server gets a database of its own (as in tests/transfers).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.db import DatabaseError
from pydicom.data import get_testdata_file

from sinfonia.accounts.models import User
from sinfonia.core import errors
from sinfonia.dicom.dimse import status
from sinfonia.dicom.errors import DicomError
from tests.dicom.series import ct_series
from tests.transfers.live import ADMIN_PASSWORD, LiveServer, PgDatabase, free_port

needs_dcmtk = pytest.mark.skipif(
    shutil.which("storescu") is None, reason="DCMTK (Debian package dcmtk) is not installed"
)
SCP = "SINFONIA"
J2K = "1.2.840.10008.1.2.4.91"
RLE = "1.2.840.10008.1.2.5"
TAG = re.compile(r"^[IWE]: \(([0-9a-f]{4}),([0-9a-f]{4})\) \w\w (?:\[(.*?)\]|\(no value|(\S+))")


def k(*keys: str) -> list[str]:
    """``-k KEY=VALUE`` options of the DCMTK query tools."""
    return [arg for key in keys for arg in ("-k", key)]


def bundled(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


# -- the live server ----------------------------------------------------------------------------


@dataclass
class DimseServer(LiveServer):
    """A live server with the DIMSE SCP on ``dicom_port``, and DCMTK to talk to it."""

    work: Path = Path()
    series: dict[str, list[pydicom.Dataset]] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)

    def dcmtk(self, tool: str, *args: str, aet: str = "ALICE", files: tuple[Path, ...] = ()) -> str:
        """Run a DCMTK client as ``aet`` against the SCP; return "rc=N" and its output."""
        peer = ["127.0.0.1", str(self.dicom_port)]
        done = subprocess.run(
            [tool, "-aet", aet, "-aec", SCP, *args, *peer, *map(str, files)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
            cwd=self.work,
        )
        return f"rc={done.returncode}\n{done.stdout}{done.stderr}"

    def find(self, *keys: str, model: str = "-S", aet: str = "ALICE") -> list[dict[str, str]]:
        """findscu with ``-k`` keys; the identifiers of its pending responses as
        {"gggg,eeee": value}."""
        out = self.dcmtk("findscu", model, "-v", *k(*keys), aet=aet)
        assert "Received Final Find Response (Success)" in out, out
        responses: list[dict[str, str]] = []
        for line in out.splitlines():
            if "Find Response:" in line and "(Pending)" in line:
                responses.append({})
                continue
            m = TAG.match(line)
            if m and responses:
                responses[-1][f"{m[1]},{m[2]}"] = (m[3] or m[4] or "").strip().strip("\x00")
        return responses

    def user(self, name: str) -> int:
        if name not in self.user_ids:
            key = self.user_key(name)
            with self.client(key) as api:
                self.user_ids[name] = api.get("/users/me").json()["id"]
        return self.user_ids[name]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DimseServer]:
    if shutil.which("storescu") is None:
        pytest.skip("DCMTK (Debian package dcmtk) is not installed")
    root = tmp_path_factory.mktemp("dimse")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
    env |= {
        "SINFONIA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SINFONIA_LOG_LEVEL": "warning",
        "SINFONIA_SFTP_PORT": "0",
        "DJANGO_SETTINGS_MODULE": "sinfonia.settings",
    }
    pg = (
        PgDatabase(os.environ["SINFONIA_DATABASE_URL"])
        if os.environ.get("SINFONIA_DATABASE_URL")
        else None
    )
    if pg is not None:
        env["SINFONIA_DATABASE_URL"] = pg.create()
    server = DimseServer(
        data=root / "data",
        port=free_port(),
        env=env,
        log_path=root / "serve.log",
        dicom_port=free_port(),
        work=root,
    )
    try:
        server.start()
        server.admin_key = server.cli("apikey", "create", "admin").strip()
        with server.client() as api:
            response = api.post(
                "/dicom/remote-aes", json={"ae_title": "ALICE", "user_id": server.user("alice")}
            )
            assert response.status_code == 201, response.text
        server.user("bob")
        assert "added BOB\tbob\t-\t/~bob/DICOM" in server.cli(
            "dicom", "ae", "add", "BOB", "--user", "bob"
        )
        _store_alice_data(server)
        yield server
    finally:
        server.stop()
        if pg is not None:
            pg.drop()


def _store_alice_data(server: DimseServer) -> None:
    """ALICE sends a generated CT series and bundled files (uncompressed by ``+sd``; the
    compressed ones in their own transfer syntax)."""
    plain = server.work / "alice-plain"
    plain.mkdir()
    series = ct_series(5, patient_id="DIMSE-ALICE", description="Generated")
    server.series["alice"] = series
    for i, ds in enumerate(series):
        ds.save_as(plain / f"slice{i}.dcm", enforce_file_format=True)
    for name in ("CT_small.dcm", "MR_small.dcm", "rtdose.dcm"):
        shutil.copy(bundled(name), plain / name)
    out = server.dcmtk("storescu", "+sd", files=(plain,))
    assert out.startswith("rc=0"), out
    out = server.dcmtk("storescu", "-xw", files=(bundled("JPEG2000.dcm"),))
    assert out.startswith("rc=0"), out
    out = server.dcmtk("storescu", "-xr", files=(bundled("SC_rgb_rle.dcm"),))
    assert out.startswith("rc=0"), out


@pytest.fixture
def dimse(live: DimseServer) -> DimseServer:
    assert live.proc is not None and live.proc.poll() is None, live.log()
    return live


def _uids(responses: list[dict[str, str]], tag: str) -> set[str]:
    return {r[tag] for r in responses}


STUDY_UID, SERIES_UID, SOP_UID, PATIENT_ID = "0020,000d", "0020,000e", "0008,0018", "0010,0020"


# -- association ----------------------------------------------------------------------------------


@needs_dcmtk
def test_echo_as_a_mapped_ae(dimse: DimseServer) -> None:
    out = dimse.dcmtk("echoscu", "-v")
    assert out.startswith("rc=0"), out
    assert "Received Echo Response (Success)" in out


@needs_dcmtk
def test_unknown_callers_are_rejected_at_association(dimse: DimseServer) -> None:
    out = dimse.dcmtk("echoscu", aet="STRANGER")
    assert not out.startswith("rc=0")
    assert "Association Rejected" in out and "Calling AE Title Not Recognized" in out, out
    # Configured without a user: a C-MOVE destination only, never a caller.
    dimse.cli("dicom", "ae", "add", "NOUSER", "--host", "127.0.0.1", "--port", "4242")
    assert "Calling AE Title Not Recognized" in dimse.dcmtk("echoscu", aet="NOUSER")
    # A mapping removed takes effect with the next association.
    dimse.cli("dicom", "ae", "add", "GONE", "--user", "bob")
    assert dimse.dcmtk("echoscu", aet="GONE").startswith("rc=0")
    assert "removed GONE" in dimse.cli("dicom", "ae", "remove", "GONE")
    assert "Calling AE Title Not Recognized" in dimse.dcmtk("echoscu", aet="GONE")


# -- C-STORE and C-FIND -----------------------------------------------------------------------


@needs_dcmtk
def test_stored_series_is_found_at_every_level_with_both_models(dimse: DimseServer) -> None:
    series = dimse.series["alice"]
    study_uid, series_uid = series[0].StudyInstanceUID, series[0].SeriesInstanceUID
    sop_uids = {ds.SOPInstanceUID for ds in series}

    studies = dimse.find(
        "QueryRetrieveLevel=STUDY",
        "PatientID=DIMSE-ALICE",
        "StudyInstanceUID",
        "StudyDate",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    )
    assert len(studies) == 1
    assert studies[0][STUDY_UID] == study_uid
    assert studies[0]["0008,0061"] == "CT"
    assert studies[0]["0020,1206"] == "1"
    assert studies[0]["0020,1208"] == "5"

    patients = dimse.find(
        "QueryRetrieveLevel=PATIENT",
        "PatientID=DIMSE-ALICE",
        "PatientName",
        "NumberOfPatientRelatedStudies",
        "NumberOfPatientRelatedInstances",
        model="-P",
    )
    assert [(p[PATIENT_ID], p["0010,0010"], p["0020,1200"], p["0020,1204"]) for p in patients] == [
        ("DIMSE-ALICE", "Anon^Patient", "1", "5")
    ]

    for model in ("-S", "-P"):
        keys = [f"StudyInstanceUID={study_uid}", "SeriesInstanceUID", "Modality", "SeriesNumber"]
        if model == "-P":
            keys.append("PatientID=DIMSE-ALICE")
        found = dimse.find(
            "QueryRetrieveLevel=SERIES", *keys, "NumberOfSeriesRelatedInstances", model=model
        )
        assert [(s[SERIES_UID], s["0008,0060"], s["0020,0011"], s["0020,1209"]) for s in found] == [
            (series_uid, "CT", "2", "5")
        ]
        images = dimse.find(
            "QueryRetrieveLevel=IMAGE",
            *keys[:1],
            f"SeriesInstanceUID={series_uid}",
            "SOPInstanceUID",
            "InstanceNumber",
            "Rows",
            model=model,
        )
        assert _uids(images, SOP_UID) == sop_uids
        assert {i["0020,0013"] for i in images} == {"1", "2", "3", "4", "5"}
        assert {i["0028,0010"] for i in images} == {"16"}  # from the stored header


@needs_dcmtk
def test_find_matching_wildcards_ranges_and_uid_lists(dimse: DimseServer) -> None:
    named = dimse.find("QueryRetrieveLevel=STUDY", "PatientName=compressedsamples*", "PatientID")
    assert {s[PATIENT_ID] for s in named} == {"1CT1", "4MR1", "8NM1"}  # PN: case-insensitive
    dated = dimse.find("QueryRetrieveLevel=STUDY", "StudyDate=20040101-20041231", "PatientID")
    assert {s[PATIENT_ID] for s in dated} == {"1CT1", "4MR1", "8NM1"}
    ct = bundled_uid("CT_small.dcm", "StudyInstanceUID")
    mr = bundled_uid("MR_small.dcm", "StudyInstanceUID")
    listed = dimse.find("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={ct}\\{mr}")
    assert _uids(listed, STUDY_UID) == {ct, mr}
    assert dimse.find("QueryRetrieveLevel=STUDY", "PatientID=NOBODY-HERE") == []


def bundled_uid(name: str, keyword: str) -> str:
    return str(pydicom.dcmread(bundled(name), stop_before_pixels=True).get(keyword))


@needs_dcmtk
def test_invalid_queries_fail_with_cannot_understand(dimse: DimseServer) -> None:
    for keys in (
        ["QueryRetrieveLevel=STUDY", "SOPInstanceUID=1.2.3"],  # a key below the level
        ["QueryRetrieveLevel=PATIENT"],  # no PATIENT level in the Study Root model
        ["QueryRetrieveLevel=SERIES", "SeriesNumber=two"],  # IS that is no number
        ["QueryRetrieveLevel=WARD"],
    ):
        out = dimse.dcmtk("findscu", "-S", "-d", *k(*keys))
        assert "DIMSE Status                  : 0xc000" in out, (keys, out[-2000:])


@needs_dcmtk
def test_compressed_instances_are_stored_as_received(dimse: DimseServer) -> None:
    with dimse.client(dimse.user_key("alice")) as api:
        for name, syntax in (("JPEG2000.dcm", J2K), ("SC_rgb_rle.dcm", RLE)):
            uid = bundled_uid(name, "SeriesInstanceUID")
            listed = api.get(f"/dicom/series/{uid}/instances").json()
            assert len(listed) == 1, listed
            index = api.get(f"/files/{listed[0]['file_id']}/dicom").json()
            assert index["instance"]["transfer_syntax_uid"] == syntax


@needs_dcmtk
def test_store_lands_in_the_users_dicom_folder_organised_and_resending_is_harmless(
    dimse: DimseServer,
) -> None:
    series = dimse.series["alice"]
    with dimse.client(dimse.user_key("alice")) as api:
        listed = api.get(f"/dicom/series/{series[0].SeriesInstanceUID}/instances").json()
        assert len(listed) == 5
        node = api.get(f"/resources/{listed[0]['file_id']}").json()
    assert node["path"].startswith("/~alice/DICOM/DIMSE-ALICE/20240317 CT chest/002 CT Generated/")
    blobs = dimse.blob_count()
    plain = dimse.work / "alice-plain"
    out = dimse.dcmtk("storescu", "-v", "+sd", files=(plain,))
    assert out.startswith("rc=0") and "Received Store Response (Success)" in out, out
    assert "Failed" not in out
    assert dimse.blob_count() == blobs
    with dimse.client(dimse.user_key("alice")) as api:
        assert len(api.get(f"/dicom/series/{series[0].SeriesInstanceUID}/instances").json()) == 5


@needs_dcmtk
def test_store_failures_answer_per_ps3_4(dimse: DimseServer, tmp_path: Path) -> None:
    # Identifying UIDs missing → 0xC000 Cannot understand.
    ds = ct_series(1, patient_id="NO-SERIES")[0]
    del ds.SeriesInstanceUID
    ds.save_as(tmp_path / "no-series.dcm", enforce_file_format=True)
    out = dimse.dcmtk("storescu", "-d", files=(tmp_path / "no-series.dcm",))
    assert "DIMSE Status                  : 0xc000" in out, out[-2000:]
    assert "SeriesInstanceUID" in out  # the Error Comment says what is missing

    # The mapped user lost write access to the configured destination → 0x0124 Refused.
    with dimse.client() as api:
        inbox = api.post("/collections", json={"name": "Inbox"}).json()
        acl = {"entries": [{"user": "bob", "level": "write"}]}
        assert api.put(f"/resources/{inbox['id']}/acl", json=acl).status_code == 200
        remote = api.post(
            "/dicom/remote-aes",
            json={
                "ae_title": "BOB-INBOX",
                "user_id": dimse.user("bob"),
                "destination_id": inbox["id"],
                "organise": False,
            },
        )
        assert remote.status_code == 201, remote.text
        assert remote.json()["destination_path"] == "/Inbox"
    one = ct_series(1, patient_id="DIMSE-INBOX")[0]
    one.save_as(tmp_path / "inbox.dcm", enforce_file_format=True)
    out = dimse.dcmtk("storescu", "-d", files=(tmp_path / "inbox.dcm",), aet="BOB-INBOX")
    assert "DIMSE Status                  : 0x0000" in out, out[-2000:]
    with dimse.client() as api:
        acl = {"entries": [{"user": "bob", "level": "read"}]}
        assert api.put(f"/resources/{inbox['id']}/acl", json=acl).status_code == 200
    again = ct_series(1, patient_id="DIMSE-INBOX")[0]
    again.save_as(tmp_path / "refused.dcm", enforce_file_format=True)
    out = dimse.dcmtk("storescu", "-d", files=(tmp_path / "refused.dcm",), aet="BOB-INBOX")
    assert "DIMSE Status                  : 0x0124" in out, out[-2000:]
    # Not organised: one fileset per series directly in the destination.
    with dimse.client(dimse.user_key("bob")) as api:
        listed = api.get(f"/dicom/series/{one.SeriesInstanceUID}/instances").json()
        node = api.get(f"/resources/{listed[0]['file_id']}").json()
    assert node["path"].startswith("/Inbox/002 CT Thorax/")


# -- permissions -----------------------------------------------------------------------------------


@needs_dcmtk
def test_each_ae_sees_what_its_user_may_read(dimse: DimseServer, tmp_path: Path) -> None:
    bob_series = ct_series(2, patient_id="DIMSE-BOB")
    for i, ds in enumerate(bob_series):
        ds.save_as(tmp_path / f"bob{i}.dcm", enforce_file_format=True)
    out = dimse.dcmtk("storescu", "+sd", files=(tmp_path,), aet="BOB")
    assert out.startswith("rc=0"), out

    bob_sees = dimse.find("QueryRetrieveLevel=STUDY", "PatientID", "StudyInstanceUID", aet="BOB")
    bob_patients = {s[PATIENT_ID] for s in bob_sees}
    assert "DIMSE-BOB" in bob_patients
    assert not bob_patients & {"DIMSE-ALICE", "1CT1", "4MR1", "8NM1"}  # ALICE's stores
    alice_sees = dimse.find("QueryRetrieveLevel=STUDY", "PatientID")
    assert "DIMSE-BOB" not in {s[PATIENT_ID] for s in alice_sees}
    assert "DIMSE-ALICE" in {s[PATIENT_ID] for s in alice_sees}
    alice_study = dimse.series["alice"][0].StudyInstanceUID
    assert (
        dimse.find("QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={alice_study}", aet="BOB") == []
    )

    got = tmp_path / "bob-got"
    got.mkdir()
    out = dimse.dcmtk(
        "getscu",
        "-v",
        "-S",
        *k("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={alice_study}"),
        "-od",
        str(got),
        aet="BOB",
    )
    assert "Received C-GET Response (Success)" in out, out
    assert "Number of Completed Suboperations : 0" in out, out
    assert list(got.iterdir()) == []


# -- C-GET and C-MOVE -----------------------------------------------------------------------------


def _received(folder: Path) -> dict[str, pydicom.Dataset]:
    out: dict[str, pydicom.Dataset] = {}
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        out[str(ds.SOPInstanceUID)] = ds
    return out


@needs_dcmtk
def test_get_retrieves_a_study_and_single_instances(dimse: DimseServer, tmp_path: Path) -> None:
    series = dimse.series["alice"]
    study = tmp_path / "study"
    study.mkdir()
    out = dimse.dcmtk(
        "getscu",
        "-v",
        "-S",
        *k("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={series[0].StudyInstanceUID}"),
        "-od",
        str(study),
    )
    assert "Number of Completed Suboperations : 5" in out, out
    received = _received(study)
    assert set(received) == {ds.SOPInstanceUID for ds in series}
    assert received[series[2].SOPInstanceUID].PixelData == series[2].PixelData

    one = tmp_path / "one"
    one.mkdir()
    nm = bundled("JPEG2000.dcm")
    original = pydicom.dcmread(nm)
    out = dimse.dcmtk(
        "getscu",
        "-v",
        "-P",
        *k(
            "QueryRetrieveLevel=IMAGE",
            f"PatientID={original.PatientID}",
            f"StudyInstanceUID={original.StudyInstanceUID}",
            f"SeriesInstanceUID={original.SeriesInstanceUID}",
            f"SOPInstanceUID={original.SOPInstanceUID}",
        ),
        "-od",
        str(one),
    )
    assert "Number of Completed Suboperations : 1" in out, out
    (received_nm,) = _received(one).values()
    # getscu accepts uncompressed data only: the JPEG 2000 instance was decompressed for it.
    assert received_nm.SOPInstanceUID == original.SOPInstanceUID
    assert not received_nm.file_meta.TransferSyntaxUID.is_compressed
    assert received_nm.pixel_array.shape == original.pixel_array.shape

    # A retrieve names the unique key of its level (PS3.4 C.4.3.2.1): else 0xC000.
    out = dimse.dcmtk(
        "getscu",
        "-d",
        "-S",
        *k("QueryRetrieveLevel=SERIES", f"StudyInstanceUID={series[0].StudyInstanceUID}"),
    )
    assert "DIMSE Status                  : 0xc000" in out, out[-3000:]
    assert "needs SeriesInstanceUID" in out


@pytest.fixture
def storescp(dimse: DimseServer, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """DCMTK's storescp as AE "DEST" on a free port, accepting every transfer syntax."""
    port = free_port()
    folder = tmp_path / "dest"
    folder.mkdir()
    proc = subprocess.Popen(
        ["storescp", "--aetitle", "DEST", "-od", str(folder), "+xa", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(
            ["echoscu", "-aec", "DEST", "127.0.0.1", str(port)], capture_output=True, check=False
        ).returncode:
            assert time.monotonic() < deadline, "storescp did not start"
            time.sleep(0.1)
        yield port, folder
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@needs_dcmtk
def test_move_sends_to_a_configured_destination(
    dimse: DimseServer, storescp: tuple[int, Path]
) -> None:
    port, folder = storescp
    with dimse.client() as api:
        response = api.post(
            "/dicom/remote-aes",
            json={"ae_title": "DEST", "host": "127.0.0.1", "port": port, "description": "storescp"},
        )
        assert response.status_code == 201, response.text
        dest_id = response.json()["id"]
    try:
        series = dimse.series["alice"]
        out = dimse.dcmtk(
            "movescu",
            "-v",
            "-aem",
            "DEST",
            "-S",
            *k("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={series[0].StudyInstanceUID}"),
        )
        assert "Received Final Move Response (Success)" in out, out
        assert set(_received(folder)) == {ds.SOPInstanceUID for ds in series}

        # A compressed instance goes as stored when the destination accepts its syntax.
        nm = pydicom.dcmread(bundled("JPEG2000.dcm"), stop_before_pixels=True)
        out = dimse.dcmtk(
            "movescu",
            "-v",
            "-aem",
            "DEST",
            "-P",
            *k("QueryRetrieveLevel=PATIENT", f"PatientID={nm.PatientID}"),
        )
        assert "Received Final Move Response (Success)" in out, out
        moved = _received(folder)[nm.SOPInstanceUID]
        assert moved.file_meta.TransferSyntaxUID == J2K

        # BOB may not read ALICE's study: nothing to move.
        out = dimse.dcmtk(
            "movescu",
            "-v",
            "-aem",
            "DEST",
            "-S",
            *k("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={series[0].StudyInstanceUID}"),
            aet="BOB",
        )
        assert "Received Final Move Response (Success)" in out, out
        assert len(list(folder.iterdir())) == 6
    finally:
        with dimse.client() as api:
            assert api.delete(f"/dicom/remote-aes/{dest_id}").status_code == 204


@needs_dcmtk
def test_move_to_an_unknown_destination_fails(dimse: DimseServer) -> None:
    study = dimse.series["alice"][0].StudyInstanceUID
    out = dimse.dcmtk(
        "movescu",
        "-v",
        "-aem",
        "NOWHERE",
        "-S",
        *k("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"),
    )
    assert "Refused: MoveDestinationUnknown" in out, out
    # BOB is configured, but as a caller without host and port: no destination either.
    out = dimse.dcmtk(
        "movescu",
        "-v",
        "-aem",
        "BOB",
        "-S",
        *k("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"),
    )
    assert "Refused: MoveDestinationUnknown" in out, out


# -- configuration through REST and CLI ---------------------------------------------------------


@pytest.mark.django_db
def test_remote_aes_are_managed_by_site_admins(
    admin_api: Any, api_for: Callable[..., Any], make_user: Callable[..., User]
) -> None:
    carol = make_user("carol")
    carol_api = api_for(carol)
    body = {"ae_title": "CT-SCANNER", "user_id": carol.id, "description": "Radiology CT"}
    assert carol_api.post("/dicom/remote-aes", body).status_code == 403
    assert carol_api.get("/dicom/remote-aes").status_code == 403
    created = admin_api.ok(admin_api.post("/dicom/remote-aes", body), 201)
    assert created["username"] == "carol" and created["organise"] is True
    assert created["move_destination"] is False and created["destination_id"] is None
    assert admin_api.post("/dicom/remote-aes", body).status_code == 409

    for bad in (
        {"ae_title": "A" * 17},
        {"ae_title": "BACK\\SLASH"},
        {"ae_title": "   "},
        {"ae_title": "PACS", "host": "pacs.example.org"},
        {"ae_title": "PACS", "host": "pacs.example.org", "port": 70000},
        {"ae_title": "PACS", "host": "bad host", "port": 104},
    ):
        response = admin_api.post("/dicom/remote-aes", bad)
        assert response.status_code == 400, (bad, response.content)

    coll = admin_api.ok(admin_api.post("/collections", {"name": "Imaging"}), 201)
    response = admin_api.patch(f"/dicom/remote-aes/{created['id']}", {"destination_id": coll["id"]})
    assert response.status_code == 400  # carol may not write there
    assert response.json()["code"] == DicomError.INVALID_DESTINATION
    acl = {"entries": [{"user": "carol", "level": "write"}]}
    admin_api.ok(admin_api.put(f"/resources/{coll['id']}/acl", acl))
    changed = admin_api.ok(
        admin_api.patch(
            f"/dicom/remote-aes/{created['id']}",
            {"destination_id": coll["id"], "host": "10.0.0.7", "port": 104, "organise": False},
        )
    )
    assert changed["destination_path"] == "/Imaging" and changed["move_destination"] is True
    assert changed["organise"] is False
    cleared = admin_api.ok(
        admin_api.patch(f"/dicom/remote-aes/{created['id']}", {"host": "", "port": None})
    )
    assert cleared["move_destination"] is False
    listed = admin_api.ok(admin_api.get("/dicom/remote-aes"))
    assert [r["ae_title"] for r in listed] == ["CT-SCANNER"]
    assert admin_api.delete(f"/dicom/remote-aes/{created['id']}").status_code == 204
    assert admin_api.get(f"/dicom/remote-aes/{created['id']}").status_code == 404


@pytest.mark.django_db
def test_cli_adds_lists_and_removes_remote_aes(
    make_user: Callable[..., User], capsys: pytest.CaptureFixture[str]
) -> None:
    from sinfonia.cli import main

    make_user("dora")
    assert (
        main(
            [
                "dicom",
                "ae",
                "add",
                "WORKSTATION",
                "--user",
                "dora",
                "--host",
                "ws.local",
                "--port",
                "11113",
            ]
        )
        == 0
    )
    assert main(["dicom", "ae", "list"]) == 0
    out = capsys.readouterr().out
    assert "WORKSTATION\tdora\tws.local:11113\t/~dora/DICOM\torganise" in out
    assert main(["dicom", "ae", "add", "WORKSTATION", "--user", "dora"]) == 1
    assert "configured already" in capsys.readouterr().err
    assert main(["dicom", "ae", "remove", "WORKSTATION"]) == 0
    assert main(["dicom", "ae", "remove", "WORKSTATION"]) == 1


# -- the status translator --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (errors.Unauthenticated(DicomError.UNKNOWN_AE, "who?"), 0x0124),
        (errors.PermissionDenied(DicomError.UNKNOWN_AE, "no"), 0x0124),
        (errors.NotFound(DicomError.NOT_FOUND, "gone"), 0x0124),
        (errors.Invalid(DicomError.MISSING_UID, "no UID"), 0xC000),
        (errors.Conflict(DicomError.AE_TITLE_TAKEN, "clash"), 0x0110),
        (errors.Invalid(DicomError.CORRUPT, "bad"), 0xC000),
        (OSError(28, "No space left on device"), 0xA700),
        (DatabaseError("database is locked"), 0xA700),
        (RuntimeError("a bug"), 0xC000),
    ],
)
def test_status_translation(exc: BaseException, expected: int) -> None:
    assert status.status_for(exc) == expected


def test_too_large_is_out_of_resources_and_comments_fit_lo() -> None:
    from enum import StrEnum

    class Code(StrEnum):
        TOO_LARGE = "too_large"

    assert status.status_for(errors.Invalid(Code.TOO_LARGE, "too big")) == 0xA700
    ds = status.failure(errors.Invalid(DicomError.MISSING_UID, "Back\\slash and é " + "x" * 100))
    assert ds.Status == 0xC000
    assert len(ds.ErrorComment) <= 64 and "\\" not in ds.ErrorComment
    assert ds.ErrorComment.isascii()
    assert status.failure(RuntimeError("boom")).ErrorComment == "RuntimeError: boom"
