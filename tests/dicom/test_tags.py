"""Tag lists, the DICOM JSON header, tag search and the order of instances in a series."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from sinfonia.dicom.tags import (
    get_float,
    get_floats,
    get_int,
    get_items,
    get_str,
    header_json,
    ordering_key,
    search,
    tag_list,
)


def load(name: str) -> Dataset:
    path = get_testdata_file(name)  # only files bundled with pydicom: no download is tried
    assert isinstance(path, str), name
    return dcmread(path, force=True)


def find(elements: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    (element,) = [element for element in elements if element["tag"] == tag]
    return element


def walk(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for element in elements:
        out.append(element)
        for item in element.get("items", []):
            out.extend(walk(item))
    return out


# -- tag_list ---------------------------------------------------------------------------------


def test_elements_as_plain_values() -> None:
    tags = tag_list(load("CT_small.dcm"))
    json.dumps(tags, allow_nan=False)
    assert tags[0]["tag"] == "0002,0000"  # File Meta Information first
    assert find(tags, "0002,0010")["value"] == ExplicitVRLittleEndian
    assert find(tags, "0008,0060") == {
        "tag": "0008,0060",
        "keyword": "Modality",
        "name": "Modality",
        "vr": "CS",
        "value": "CT",
    }
    assert find(tags, "0008,0008")["value"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert find(tags, "0010,0010")["value"] == "CompressedSamples^CT1"  # PN as a string
    assert find(tags, "0008,0012")["value"] == "20040119"  # DA as the DICOM string
    assert find(tags, "0008,0013")["value"] == "072731"  # TM too
    position = find(tags, "0020,0032")
    assert position["vr"] == "DS" and position["value"] == pytest.approx(
        [-158.1358, -179.0358, -75.7]
    )
    assert find(tags, "0028,0010")["value"] == 128
    assert find(tags, "7FE0,0010")["value"] == "<32768 bytes>"  # never the pixels
    assert find(tags, "0043,1029")["value"] == "<2068 bytes>"  # nor other binary values
    order = [element["tag"] for element in tags[8:]]
    assert order == sorted(order)


def test_sequences_are_nested() -> None:
    tags = tag_list(load("rtplan.dcm"))
    beams = find(tags, "300A,00B0")
    assert (beams["keyword"], beams["vr"], beams["value"]) == ("BeamSequence", "SQ", None)
    (beam,) = beams["items"]
    assert find(beam, "300A,00C2")["value"] == "Field 1"
    control_points = find(beam, "300A,0111")["items"]
    assert len(control_points) == 2
    assert find(control_points[0], "300A,011E")["value"] == 0.0  # Gantry Angle
    devices = find(control_points[0], "300A,011A")["items"]  # three levels down
    assert [find(item, "300A,00B8")["value"] for item in devices] == ["X", "Y"]


def test_private_elements_by_number() -> None:
    tags = tag_list(load("CT_small.dcm"))
    creator = find(tags, "0043,0010")
    assert (creator["keyword"], creator["name"], creator["value"]) == (
        "",
        "Private Creator",
        "GEMS_PARM_01",
    )
    known = find(tags, "0043,102B")  # named by pydicom's private dictionary for GEMS_PARM_01
    assert (known["keyword"], known["name"], known["value"]) == (
        "",
        "Private Scan Options",
        [4, 4, 0, 0],
    )
    public = tag_list(load("CT_small.dcm"), include_private=False)
    assert all(int(element["tag"][:4], 16) % 2 == 0 for element in walk(public))
    assert len(public) < len(tags)


def test_private_sequences_and_unknown_private_data() -> None:
    tags = tag_list(load("nested_priv_SQ.dcm"))
    json.dumps(tags)
    outer = find(tags, "0001,0001")
    assert outer["vr"] == "SQ" and outer["keyword"] == ""
    inner = find(outer["items"][0], "0001,0002")
    assert (inner["vr"], inner["value"]) == ("UN", "<9 bytes>")
    public = walk(tag_list(load("nested_priv_SQ.dcm"), include_private=False))
    assert all(int(element["tag"][:4], 16) % 2 == 0 for element in public)


def test_attribute_tag_values() -> None:
    pointer = find(tag_list(load("rtdose.dcm")), "0028,0009")
    assert (pointer["vr"], pointer["value"]) == ("AT", "3004,000C")


def test_malformed_value_is_flagged_not_fatal() -> None:
    tags = tag_list(load("badVR.dcm"))  # Number of Frames is "1A"
    json.dumps(tags)
    frames = find(tags, "0028,0008")
    assert frames["malformed"] is True and "1A" in frames["value"]
    assert frames["keyword"] == "NumberOfFrames" and frames["error"]
    assert "malformed" not in find(tags, "0028,0010")


@pytest.mark.parametrize(
    "name",
    [
        "rtstruct.dcm",
        "test-SR.dcm",
        "waveform_ecg.dcm",
        "examples_palette.dcm",
        "priv_SQ.dcm",
        "UN_sequence.dcm",
        "JPEG2000.dcm",
    ],
)
def test_every_list_is_json(name: str) -> None:
    tags = tag_list(load(name))
    assert json.loads(json.dumps(tags, allow_nan=False)) == tags


# -- search -----------------------------------------------------------------------------------


def test_search_by_keyword_name_and_tag() -> None:
    tags = tag_list(load("CT_small.dcm"))
    for query in ("modality", "MODALITY", "0008,0060", "00080060", "(0008,0060)"):
        assert any(e["keyword"] == "Modality" for e in search(tags, query)), query
    names = search(tags, "patient's name")
    assert [e["keyword"] for e in names] == ["PatientName"]
    found = [e["tag"] for e in search(tags, "Scan Options")]
    assert found == ["0018,0022", "0043,102B"]  # public, and private by its dictionary name


def test_search_by_value() -> None:
    tags = tag_list(load("CT_small.dcm"))
    assert [e["keyword"] for e in search(tags, "compressedsamples")] == ["PatientName"]
    assert "ImageType" in [e["keyword"] for e in search(tags, "AXIAL")]  # one of several
    assert search(tags, "no such thing anywhere") == []
    assert search(tags, "  ") == tags


def test_search_recurses_into_sequences() -> None:
    tags = tag_list(load("rtplan.dcm"))
    (beams,) = search(tags, "field 1")
    assert beams["keyword"] == "BeamSequence"
    assert [[e["keyword"] for e in item] for item in beams["items"]] == [["BeamName"]]
    gantry = search(tags, "GantryAngle")
    (beam_sequence,) = gantry
    (beam,) = beam_sequence["items"]
    (control_points,) = beam
    assert [len(item) for item in control_points["items"]] == [1]  # only the first has one
    whole = search(tags, "Beam Sequence")  # a matching sequence is kept whole
    assert any(len(e.get("items", [[]])[0]) > 10 for e in whole)


# -- header_json ------------------------------------------------------------------------------


def test_header_json_round_trips() -> None:
    ds = load("CT_small.dcm")
    header = header_json(ds)
    assert "7FE00010" not in header
    assert list(header) == sorted(header)
    text = json.dumps(header, allow_nan=False)
    again = Dataset.from_json(text)
    for keyword in ("Modality", "PatientID", "SOPInstanceUID", "StudyDate", "SliceThickness"):
        assert again[keyword].value == ds[keyword].value, keyword
    assert str(again.PatientName) == str(ds.PatientName)
    assert list(again.ImagePositionPatient) == pytest.approx(list(ds.ImagePositionPatient))
    assert again.Rows == 128 and again.ImageType == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert header == header_json(ds) and json.dumps(header_json(ds)) == text  # stable


def test_header_json_sequences() -> None:
    ds = load("rtplan.dcm")
    again = Dataset.from_json(json.dumps(header_json(ds)))
    assert again.BeamSequence[0].BeamName == "Field 1"
    points = again.BeamSequence[0].ControlPointSequence
    assert points[0].NominalBeamEnergy == 6.0 and len(points) == 2
    assert again.FractionGroupSequence[0].NumberOfFractionsPlanned == 30


def test_header_json_leaves_out_bulk_data() -> None:
    ds = Dataset()
    ds.Modality = "OT"
    ds.add_new(0x00090010, "LO", "SINFONIA TEST")
    ds.add_new(0x00091001, "OB", b"\x01" * 2000)  # over the 1 KiB threshold
    ds.add_new(0x00091002, "OB", b"\x02" * 10)
    ds.add_new(0x00090000, "UL", 42)  # group lengths are left out
    ds.PixelData = b"\x00" * 16
    header = header_json(ds)
    json.dumps(header, allow_nan=False)
    assert header["00091001"] == {"vr": "OB"}
    assert header["00091002"] == {"vr": "OB", "InlineBinary": "AgICAgICAgICAg=="}
    assert "00090000" not in header and "7FE00010" not in header
    assert header["00090010"] == {"vr": "LO", "Value": ["SINFONIA TEST"]}
    assert header_json(ds, bulk_data_threshold=4096)["00091001"]["InlineBinary"]
    assert Dataset.from_json(header).Modality == "OT"


def test_header_json_never_fails_on_malformed_values() -> None:
    header = header_json(load("badVR.dcm"))
    json.dumps(header, allow_nan=False)
    assert header["00280008"] == {"vr": "IS"}  # "1A" is not a number
    assert header["00280010"] == {"vr": "US", "Value": [10]}


# -- ordering_key -----------------------------------------------------------------------------


AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def instance(
    uid: str,
    number: int | None = None,
    position: list[float] | None = None,
    orientation: list[float] = AXIAL,
) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid
    if number is not None:
        ds.InstanceNumber = number
    if position is not None:
        ds.ImagePositionPatient = position
        ds.ImageOrientationPatient = orientation
    return ds


def shuffled(series: list[Dataset]) -> list[Dataset]:
    copy = list(series)
    random.Random(42).shuffle(copy)
    assert copy != series
    return copy


def test_order_by_instance_number() -> None:
    # UIDs and positions both run backwards: only the Instance Number gives this order.
    series = [instance(f"1.2.3.{100 - n}", n, [0.0, 0.0, -n]) for n in range(1, 13)]
    assert sorted(shuffled(series), key=ordering_key) == series


def test_order_by_position_along_the_slice_normal() -> None:
    # Oblique slices: rows along x, columns along (0, cos 30, -sin 30), so the normal is
    # (0, sin 30, cos 30). z decreases while the position along the normal increases.
    oblique = [1.0, 0.0, 0.0, 0.0, 0.8660254, -0.5]
    positions = [[5.0, 3.0 * i, -0.5 * i] for i in range(10)]
    series = [instance(f"1.2.3.{20 - i}", None, p, oblique) for i, p in enumerate(positions)]
    assert sorted(shuffled(series), key=ordering_key) == series
    numbered = [instance(f"1.2.3.{20 - i}", 7, p, oblique) for i, p in enumerate(positions)]
    assert sorted(shuffled(numbered), key=ordering_key) == numbered  # equal numbers


def test_order_by_uid_numerically_then_missing_values_last() -> None:
    series = [instance(f"1.2.840.99.{n}") for n in (2, 9, 10, 11, 100)]
    assert sorted(shuffled(series), key=ordering_key) == series
    mixed = [instance("1.2.5", 1), instance("1.2.4", 2), instance("1.2.9", None, [0, 0, 3.0])]
    mixed += [instance("1.2.1"), instance("1.2.3")]
    assert sorted(shuffled(mixed), key=ordering_key) == mixed
    assert ordering_key(Dataset()) > ordering_key(mixed[0])  # nothing at all: last


# -- Tolerant readers -------------------------------------------------------------------------


def test_tolerant_readers() -> None:
    ds = load("rtplan.dcm")
    assert get_str(ds, "RTPlanLabel") == "Plan1"
    assert get_str(ds, "AccessionNumber") is None  # empty
    assert get_str(ds, "BeamSequence") is None
    beam = get_items(ds, "BeamSequence")[0]
    assert get_int(beam, "NumberOfControlPoints") == 2
    point = get_items(beam, "ControlPointSequence")[0]
    assert get_float(point, "NominalBeamEnergy") == 6.0
    assert get_floats(point, "IsocenterPosition") == pytest.approx([235.7112, 244.1354, -724.9782])
    assert get_items(ds, "RTPlanLabel") == [] and get_items(ds, "DoesNotExist") == []
    bad = load("badVR.dcm")
    assert get_int(bad, "NumberOfFrames") is None and get_int(bad, "Rows") == 10


def _corpus() -> list[str]:
    from pathlib import Path

    import pydicom

    data = Path(pydicom.__file__).parent / "data"
    return sorted(
        str(p) for folder in ("test_files", "charset_files") for p in (data / folder).glob("*.dcm")
    )


@pytest.mark.filterwarnings("ignore")
def test_the_fast_header_path_agrees_with_pydicom_on_its_test_data(monkeypatch) -> None:
    """`header_json` reads most values from their bytes; pydicom's conversion must give the
    same JSON for every file of pydicom's own test data (character sets included)."""
    from sinfonia.dicom import tags

    compared = 0
    for path in _corpus():
        try:
            fast_ds = dcmread(path, stop_before_pixels=True, force=True)
            slow_ds = dcmread(path, stop_before_pixels=True, force=True)
            fast = header_json(fast_ds)
        except Exception:  # files pydicom cannot read either way are not the point here
            continue
        with monkeypatch.context() as m:
            m.setattr(tags, "_fast_json_element", lambda raw, plain_text: None)
            slow = header_json(slow_ds)
        assert fast == slow, path
        compared += 1
    assert compared >= 80
