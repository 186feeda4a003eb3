"""`dicom.header.Header`: values read from the DICOM JSON of a header agree with pydicom's."""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from sinfonia.dicom.header import Header


def made() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Müller^Jürgen=ミュラー^ユルゲン"
    ds.PatientID = "P-1 "
    ds.OtherPatientIDs = ["A", "B"]
    ds.SeriesNumber = "7"
    ds.ImagePositionPatient = ["-125.0", "-90.5", "12"]
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    return ds


def test_values_of_a_made_dataset():
    header = Header.of(made())
    assert header.text("PatientName", 324) == "Müller^Jürgen=ミュラー^ユルゲン"
    assert header.text("PatientID", 64) == "P-1"
    assert header.text("OtherPatientIDs", 64) == "A\\B"  # as encoded
    assert header.int("SeriesNumber") == 7
    assert header.floats("ImagePositionPatient") == [-125.0, -90.5, 12.0]
    assert header.text("StudyDescription", 64) == "" and header.int("InstanceNumber") is None
    assert header.text("PatientName", 6) == "Müller"
    assert header.sop_instance_uid == ""


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "SC_rgb_rle.dcm"]
)
def test_values_agree_with_pydicom(name):
    path = get_testdata_file(name)
    assert path is not None
    header = Header.of(dcmread(path, stop_before_pixels=True))
    ds = dcmread(path, stop_before_pixels=True)
    for keyword in ("PatientID", "PatientName", "StudyDate", "Modality", "SeriesDescription"):
        assert header.text(keyword, 1024) == str(ds.get(keyword, "") or "").strip()
    for keyword in ("SeriesNumber", "InstanceNumber", "Rows", "Columns"):
        value = ds.get(keyword)
        assert header.int(keyword) == (int(value) if value not in (None, "") else None)
    assert header.sop_instance_uid == ds.SOPInstanceUID
    assert header.study_instance_uid == ds.StudyInstanceUID
    assert header.series_instance_uid == ds.SeriesInstanceUID
    assert header.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
