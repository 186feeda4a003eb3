"""DICOMweb against a real ``sinfonia serve``, spoken to by the ``dicomweb-client`` library (the
client many research pipelines use): store, search, retrieve, metadata, frames, rendering."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from tests.dicom.dicomweb_helpers import bundled, read
from tests.dicom.series import ct_series
from tests.transfers.live import LiveServer, running

pytestmark = pytest.mark.slow

BUNDLED = ["CT_small.dcm", "MR_small.dcm", "rtdose.dcm", "rtplan.dcm", "JPEG2000.dcm"]
ELE = "1.2.840.10008.1.2.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One ``sinfonia serve`` for this module (its own database in the PostgreSQL run)."""
    with running(tmp_path_factory.mktemp("dicomweb")) as live:
        yield live


def response_of(raised: pytest.ExceptionInfo[requests.HTTPError]) -> requests.Response:
    response = raised.value.response
    assert response is not None
    return response


def client_for(server: LiveServer, key: str) -> DICOMwebClient:
    return DICOMwebClient(
        f"{server.base_url}/dicom-web", headers={"Authorization": f"Bearer {key}"}
    )


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> DICOMwebClient:
    return client_for(server, server.user_key("alice"))


@pytest.fixture(scope="module")
def archive(alice: DICOMwebClient) -> dict[str, Any]:
    """Everything the tests read, stored once by alice through STOW-RS."""
    files = {name: read(bundled(name)) for name in BUNDLED}
    series = ct_series(20, patient_id="GEN-20", study_date="20240317")
    # An RLE instance of its own (MR_small_RLE.dcm shares MR_small.dcm's SOP Instance UID).
    rle = read(bundled("MR_small_RLE.dcm"))
    rle.SeriesInstanceUID, rle.SOPInstanceUID = generate_uid(), generate_uid()
    shuffled = list(series)
    random.Random(4).shuffle(shuffled)
    stored = alice.store_instances([*files.values(), rle])
    stored_series = alice.store_instances(shuffled, study_instance_uid=series[0].StudyInstanceUID)
    return {"files": files, "series": series, "rle": rle, "responses": [stored, stored_series]}


def test_stow_answers_every_instance(archive):
    first, second = archive["responses"]
    assert len(first.ReferencedSOPSequence) == len(BUNDLED) + 1
    assert "FailedSOPSequence" not in first
    assert len(second.ReferencedSOPSequence) == 20
    assert second.RetrieveURL.endswith(
        f"/dicom-web/studies/{archive['series'][0].StudyInstanceUID}"
    )
    for item in first.ReferencedSOPSequence:
        assert item.RetrieveURL.endswith(f"/instances/{item.ReferencedSOPInstanceUID}")


def test_stow_refuses_instances_of_another_study(alice, archive):
    strays = ct_series(2, patient_id="STRAY")
    target = archive["series"][0].StudyInstanceUID
    with pytest.raises(requests.HTTPError) as refused:
        alice.store_instances(strays, study_instance_uid=target)
    assert response_of(refused).status_code == 409
    body = Dataset.from_json(response_of(refused).json())
    assert {item.FailureReason for item in body.FailedSOPSequence} == {0xA900}
    # one good and one stray: 202, the good one is kept
    good = ct_series(1, patient_id="GEN-20", study_uid=target, series_number=9)
    mixed = alice.store_instances([good[0], strays[0]], study_instance_uid=target)
    assert [i.ReferencedSOPInstanceUID for i in mixed.ReferencedSOPSequence] == [
        good[0].SOPInstanceUID
    ]
    assert [i.FailureReason for i in mixed.FailedSOPSequence] == [0xA900]


def test_search_for_studies_with_filters(alice, archive):
    ct = archive["files"]["CT_small.dcm"]
    (study,) = alice.search_for_studies(search_filters={"PatientID": ct.PatientID})
    ds = Dataset.from_json(study)
    assert ds.StudyInstanceUID == ct.StudyInstanceUID
    assert ds.ModalitiesInStudy == "CT" and ds.NumberOfStudyRelatedInstances == 1
    in_2004 = alice.search_for_studies(search_filters={"StudyDate": "20040101-20041231"})
    assert {Dataset.from_json(s).PatientID for s in in_2004} == {"1CT1", "4MR1", "8NM1"}
    wildcard = alice.search_for_studies(search_filters={"PatientName": "CompressedSamples^*"})
    assert len(wildcard) == 3
    generated = alice.search_for_studies(
        search_filters={"ModalitiesInStudy": "CT", "PatientID": "GEN*"}
    )
    (gen,) = [Dataset.from_json(s) for s in generated]
    assert gen.NumberOfStudyRelatedInstances >= 20
    everything = alice.search_for_studies()
    page1 = alice.search_for_studies(limit=3)
    page2 = alice.search_for_studies(limit=3, offset=3)
    uid = "0020000D"
    assert [s[uid] for s in page1 + page2] == [s[uid] for s in everything[:6]]
    assert alice.search_for_studies(search_filters={"PatientID": "nobody"}) == []
    (with_fields,) = alice.search_for_studies(
        search_filters={"PatientID": "1CT1"}, fields=["PatientAge", "00101030"]
    )
    assert Dataset.from_json(with_fields).PatientAge == "000Y"


def test_search_for_series_and_instances(alice, archive):
    series = archive["series"]
    study, uid = series[0].StudyInstanceUID, series[0].SeriesInstanceUID
    found = [Dataset.from_json(s) for s in alice.search_for_series(study)]
    main = next(s for s in found if s.SeriesInstanceUID == uid)
    assert main.Modality == "CT" and main.NumberOfSeriesRelatedInstances == 20
    by_modality = alice.search_for_series(search_filters={"Modality": "RTDOSE"})
    assert [Dataset.from_json(s).Modality for s in by_modality] == ["RTDOSE"]
    instances = [Dataset.from_json(i) for i in alice.search_for_instances(study, uid)]
    assert [i.SOPInstanceUID for i in instances] == [ds.SOPInstanceUID for ds in series]
    assert [i.InstanceNumber for i in instances] == list(range(1, 21))
    assert all(i.Rows == 16 and i.NumberOfFrames == 1 for i in instances)
    some = alice.search_for_instances(study, uid, limit=5, offset=5)
    assert [Dataset.from_json(i).InstanceNumber for i in some] == list(range(6, 11))
    everywhere = alice.search_for_instances(
        search_filters={"SOPInstanceUID": series[3].SOPInstanceUID}
    )
    assert len(everywhere) == 1


def test_retrieve_study_series_and_instance(alice, archive):
    series = archive["series"]
    study = series[0].StudyInstanceUID
    got = alice.retrieve_series(study, series[0].SeriesInstanceUID)
    assert [ds.SOPInstanceUID for ds in got] == [ds.SOPInstanceUID for ds in series]
    assert got[5].PixelData == series[5].PixelData
    whole = alice.retrieve_study(study)
    assert {ds.SOPInstanceUID for ds in series} <= {ds.SOPInstanceUID for ds in whole}
    j2k = archive["files"]["JPEG2000.dcm"]
    one = alice.retrieve_instance(j2k.StudyInstanceUID, j2k.SeriesInstanceUID, j2k.SOPInstanceUID)
    assert one.file_meta.TransferSyntaxUID == j2k.file_meta.TransferSyntaxUID
    assert one.PixelData == j2k.PixelData


def test_metadata_and_bulk_data(server, alice, archive):
    ct = archive["files"]["CT_small.dcm"]
    meta = alice.retrieve_instance_metadata(
        ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID
    )
    assert meta["00100020"]["Value"] == ["1CT1"]
    uri = meta["7FE00010"]["BulkDataURI"]
    # URLs are absolute, built from the request's Host header, and dicomweb-client sends that
    # header without the port; put it back before following the link.
    assert uri.startswith("http://127.0.0.1/dicom-web/studies/")
    (pixels,) = alice.retrieve_bulkdata(uri.replace("http://127.0.0.1/", f"{server.base_url}/"))
    assert pixels == ct.PixelData
    series_meta = alice.retrieve_series_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert len(series_meta) == 1


def test_frames_native_and_compressed(alice, archive):
    dose = archive["files"]["rtdose.dcm"]
    frame_size = dose.Rows * dose.Columns * dose.BitsAllocated // 8
    frames = alice.retrieve_instance_frames(
        dose.StudyInstanceUID, dose.SeriesInstanceUID, dose.SOPInstanceUID, [2, 15]
    )
    assert frames == [
        dose.PixelData[frame_size : 2 * frame_size],
        dose.PixelData[14 * frame_size : 15 * frame_size],
    ]
    for name, ds in (("JPEG2000.dcm", archive["files"]["JPEG2000.dcm"]), ("rle", archive["rle"])):
        uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        (native,) = alice.retrieve_instance_frames(*uids, [1])
        expected = ds.pixel_array.astype(ds.pixel_array.dtype.newbyteorder("<")).tobytes()
        assert native == expected, name
        (stored,) = alice.retrieve_instance_frames(
            *uids, [1], media_types=(("application/octet-stream", "*"),)
        )
        (original,) = generate_frames(ds.PixelData, number_of_frames=1)
        assert stored == original, name
        assert stored != native


def test_rendered_instance(alice, archive):
    ct = archive["files"]["CT_small.dcm"]
    uids = (ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    png = alice.retrieve_instance_rendered(*uids, media_types=("image/png",))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (128, 128)
    windowed = alice.retrieve_instance_rendered(
        *uids, media_types=("image/png",), params={"window": "40,80,linear", "viewport": "64,64"}
    )
    small = np.asarray(Image.open(io.BytesIO(windowed)))
    assert small.shape[:2] == (64, 64)
    thumb = alice.retrieve_instance_frames_rendered(*uids, [1], media_types=("image/png",))
    assert Image.open(io.BytesIO(thumb)).format == "PNG"


def test_a_user_without_access_sees_nothing(server, archive):
    bob = client_for(server, server.user_key("bob"))
    assert bob.search_for_studies() == []
    assert bob.search_for_instances() == []
    ct = archive["files"]["CT_small.dcm"]
    with pytest.raises(requests.HTTPError) as missing:
        bob.retrieve_study(ct.StudyInstanceUID)
    assert response_of(missing).status_code == 404
    with pytest.raises(requests.HTTPError) as missing:
        bob.retrieve_instance_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert response_of(missing).status_code == 404
    nobody = client_for(server, "sfk_not_a_key")
    with pytest.raises(requests.HTTPError) as unauthenticated:
        nobody.search_for_studies()
    assert response_of(unauthenticated).status_code == 401


def test_stow_of_a_large_instance_streams(server, alice):
    """A 40 MB multi-frame instance goes through STOW and WADO without the server holding it."""
    ds = ct_series(1, patient_id="BIG")[0]
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = 80
    ds.PixelData = np.zeros((80, 512, 512), dtype=np.int16).tobytes()
    before = server.memory()["VmRSS"]
    server.reset_peak_memory()
    alice.store_instances([ds])
    got = alice.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert len(got.PixelData) == len(ds.PixelData)
    frames = alice.retrieve_instance_frames(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, [80]
    )
    assert frames == [bytes(512 * 512 * 2)]
    if server.reset_peak_memory():
        grown = server.memory()["VmHWM"] - before
        assert grown < 40 * 1024**2, f"peak memory grew by {grown / 1024**2:.0f} MB"


def test_pydicom_reads_every_retrieved_file(alice, archive, tmp_path: Path):
    plan = archive["files"]["rtplan.dcm"]
    (got,) = alice.retrieve_series(plan.StudyInstanceUID, plan.SeriesInstanceUID)
    got.save_as(tmp_path / "plan.dcm")
    assert pydicom.dcmread(tmp_path / "plan.dcm").RTPlanLabel == plan.RTPlanLabel
