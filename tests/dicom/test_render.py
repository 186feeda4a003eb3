"""Rendering frames to PNG and summarising RT objects, on pydicom's bundled files and on
small generated datasets whose expected pictures can be worked out by hand."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    RTIonPlanStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from sinfonia.dicom.render import RenderError, frame_count, render_png, rt_summary


def load(name: str, *, pixels: bool = True) -> Dataset:
    path = get_testdata_file(name)  # only files bundled with pydicom: no download is tried
    assert isinstance(path, str), name
    return dcmread(path, force=True, stop_before_pixels=not pixels)


def png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(png(data)).astype(int)


def image_ds(
    arr: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    signed: bool = False,
    **attributes: Any,
) -> Dataset:
    """A Secondary Capture dataset holding `arr` (frames, rows, columns[, samples]) natively."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    colour = photometric == "RGB"
    ds.NumberOfFrames = len(arr) if arr.ndim == (4 if colour else 3) else 1
    ds.Rows, ds.Columns = arr.shape[-3:-1] if colour else arr.shape[-2:]
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def ramp(width: int = 1000, rows: int = 4) -> np.ndarray:
    return np.tile(np.arange(width, dtype=np.uint16), (rows, 1))


# -- Transfer syntaxes and photometric interpretations ------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode", "size"),
    [
        ("CT_small.dcm", "L", (128, 128)),  # Explicit VR LE, signed 16-bit, rescale
        ("MR_small_implicit.dcm", "L", (64, 64)),  # Implicit VR LE
        ("MR_small_bigendian.dcm", "L", (64, 64)),  # Explicit VR BE
        ("image_dfl.dcm", "L", (512, 512)),  # Deflated Explicit VR LE
        ("MR_small_RLE.dcm", "L", (64, 64)),  # RLE Lossless
        ("MR_small_jp2klossless.dcm", "L", (64, 64)),  # JPEG 2000 lossless
        ("JPEG2000.dcm", "L", (256, 1024)),  # JPEG 2000
        ("693_J2KI.dcm", "L", (512, 512)),  # JPEG 2000, 14 of 16 bits, signed
        ("MR_small_jpeg_ls_lossless.dcm", "L", (64, 64)),  # JPEG-LS lossless
        ("JPEGLSNearLossless_16.dcm", "L", (10, 50)),  # JPEG-LS near-lossless
        ("SC_rgb_jpeg_dcmtk.dcm", "RGB", (100, 100)),  # JPEG baseline, YBR_FULL
        ("SC_rgb_dcmtk_+eb+cy+np.dcm", "RGB", (100, 100)),  # JPEG baseline, YBR_FULL_422
        ("SC_rgb_jpeg_gdcm.dcm", "RGB", (100, 100)),  # JPEG lossless (process 14, SV1)
        ("SC_rgb_rle.dcm", "RGB", (100, 100)),  # RLE colour
        ("SC_rgb_rle_16bit.dcm", "RGB", (100, 100)),  # 16-bit colour
        ("SC_ybr_full_422_uncompressed.dcm", "RGB", (100, 100)),  # native YBR_FULL_422
        ("examples_jpeg2k.dcm", "RGB", (640, 480)),  # JPEG 2000 lossless, YBR_RCT
        ("ExplVR_BigEnd.dcm", "RGB", (80, 60)),  # big endian colour
        ("examples_palette.dcm", "RGB", (800, 350)),  # PALETTE COLOR
        ("examples_overlay.dcm", "L", (484, 300)),  # 12 of 16 bits, with overlay planes
        ("liver_1frame.dcm", "L", (512, 512)),  # SEG, 1 bit allocated
        ("rtdose.dcm", "L", (10, 10)),  # RT Dose, 32-bit, multi-frame
        ("rtdose_rle.dcm", "L", (10, 10)),
    ],
)
def test_renders_each_transfer_syntax(name: str, mode: str, size: tuple[int, int]) -> None:
    image = png(render_png(load(name)))
    assert (image.mode, image.size) == (mode, size)
    assert np.asarray(image).std() > 0  # a picture, not a flat field


def test_lossless_syntaxes_render_identically() -> None:
    expected = pixels(render_png(load("MR_small.dcm")))
    for name in (
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ):
        assert np.array_equal(pixels(render_png(load(name))), expected), name


@pytest.mark.parametrize(
    ("name", "tolerance"),
    [
        ("SC_rgb_rle.dcm", 0),
        ("SC_rgb_jpeg_gdcm.dcm", 0),  # JPEG lossless
        ("SC_rgb_rle_16bit.dcm", 0),  # scaled from 16 to 8 bits
        ("SC_rgb_rle_32bit.dcm", 0),
        ("SC_rgb_jpeg_dcmtk.dcm", 6),  # lossy, YBR_FULL converted to RGB
        ("SC_ybr_full_422_uncompressed.dcm", 6),  # 4:2:2 subsampling undone
    ],
)
def test_colour_images_keep_their_colours(name: str, tolerance: int) -> None:
    # These images are horizontal bands: red, light red, green, ..., black, grey, white.
    bands = [(255, 0, 0), (255, 128, 128), (0, 255, 0), (128, 255, 128), (0, 0, 255)]
    bands += [(128, 128, 255), (0, 0, 0), (64, 64, 64), (192, 192, 192), (255, 255, 255)]
    arr = pixels(render_png(load(name)))
    for band, colour in enumerate(bands):
        assert np.abs(arr[band * 10 + 5, 50] - colour).max() <= tolerance, (name, band)


def test_palette_colour_is_looked_up() -> None:
    ds = load("examples_palette.dcm")  # 8-bit indices into 16-bit red, green and blue tables
    arr = pixels(render_png(ds))
    expected = apply_color_lut(ds.pixel_array, ds).astype(int) >> 8
    assert arr.shape == (350, 800, 3)
    assert np.array_equal(arr, expected)
    assert (arr[..., 0] != arr[..., 1]).any()  # colour, not grey


def test_planar_configuration_1_matches_0() -> None:
    rgb = np.random.default_rng(7).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    by_pixel = image_ds(rgb, photometric="RGB")
    by_plane = image_ds(rgb, photometric="RGB", PlanarConfiguration=1)
    by_plane.PixelData = rgb.transpose(2, 0, 1).tobytes()  # all R, then all G, then all B
    assert np.array_equal(pixels(render_png(by_pixel)), rgb)
    assert np.array_equal(pixels(render_png(by_plane)), rgb)


def test_signed_pixels_with_bits_stored_below_bits_allocated() -> None:
    values = np.linspace(-2048, 2047, 64).astype(np.int16).reshape(8, 8)
    clean = image_ds(values, signed=True)
    # 12 bits stored, two's complement; the 4 bits above hold rubbish (e.g. an old-style
    # overlay plane) that must not show in the picture.
    packed = (values.astype(np.int32) & 0x0FFF) | 0xA000
    dirty = image_ds(packed.astype(np.uint16), bits_stored=12, signed=True)
    window = (0.0, 4096.0)
    expected = pixels(render_png(clean, window=window))
    assert np.array_equal(pixels(render_png(dirty, window=window)), expected)
    assert expected[0, 0] == 0 and expected[-1, -1] == 255


def test_monochrome1_is_inverted() -> None:
    ds = load("MR_small.dcm")
    normal = pixels(render_png(ds))
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = pixels(render_png(ds))
    assert np.abs(normal + inverted - 255).max() <= 1


def test_binary_segmentation_shows_both_values() -> None:
    arr = pixels(render_png(load("liver_1frame.dcm")))
    assert set(np.unique(arr)) == {0, 255}


# -- Modality LUT and VOI ---------------------------------------------------------------------


def test_explicit_window_changes_the_output() -> None:
    ds = load("CT_small.dcm")
    soft_tissue = render_png(ds, window=(40, 400))
    bone = render_png(ds, window=(500, 2000))
    assert soft_tissue != bone
    assert soft_tissue != render_png(ds)


def test_explicit_window_maps_center_to_mid_grey() -> None:
    arr = pixels(render_png(image_ds(ramp()), window=(500, 100)))
    assert arr[0, 450] == 0 and arr[0, 550] == 255
    assert arr[0, 500] in (127, 128)
    assert (np.diff(arr[0]) >= 0).all()


def test_dataset_window_is_the_default_and_first_of_several_is_used() -> None:
    windowed = image_ds(ramp(), WindowCenter=[500, 100], WindowWidth=[100, 50])
    arr = pixels(render_png(windowed))
    # LINEAR (PS3.3 C.11.2.1.2.1): x <= c - 0.5 - (w-1)/2 is black, x > c - 0.5 + (w-1)/2 white.
    assert arr[0, 450] == 0 and arr[0, 451] > 0
    assert arr[0, 548] < 255 and arr[0, 549] == 255
    automatic = pixels(render_png(image_ds(ramp())))
    assert not np.array_equal(arr, automatic)


def test_voi_lut_function_sigmoid_and_linear_exact() -> None:
    linear = pixels(render_png(image_ds(ramp(), WindowCenter=500, WindowWidth=100)))
    sigmoid_ds = image_ds(ramp(), WindowCenter=500, WindowWidth=100, VOILUTFunction="SIGMOID")
    sigmoid = pixels(render_png(sigmoid_ds))
    assert linear[0, 450] == 0 and 20 < sigmoid[0, 450] < 40  # 255 / (1 + e^2) = 30
    assert sigmoid[0, 500] in (127, 128)
    exact_ds = image_ds(ramp(), WindowCenter=500, WindowWidth=100, VOILUTFunction="LINEAR_EXACT")
    exact = pixels(render_png(exact_ds))
    assert exact[0, 450] == 0 and exact[0, 550] == 255 and exact[0, 500] in (127, 128)


def test_voi_lut_sequence_is_applied() -> None:
    ds = image_ds(ramp())
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [1000, 0, 16])
    item.add_new("LUTData", "US", [(999 - i) * 65 for i in range(1000)])  # inverts
    ds.VOILUTSequence = [item]
    arr = pixels(render_png(ds))
    assert arr[0, 0] == 255 and arr[0, 999] == 0
    assert (np.diff(arr[0]) <= 0).all()


def test_rescale_and_modality_lut_give_the_same_values() -> None:
    window = (1000.0, 1500.0)
    stored = ramp()
    rescaled = image_ds(stored, RescaleSlope=2, RescaleIntercept=-1000)
    direct = image_ds((stored * 2).astype(np.uint16))
    lut_ds = image_ds(stored)
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [1000, 0, 16])
    item.add_new("LUTData", "US", [i * 2 for i in range(1000)])
    item.ModalityLUTType = "US"
    lut_ds.ModalityLUTSequence = [item]
    expected = pixels(render_png(direct, window=(2000.0, 1500.0)))
    assert np.array_equal(pixels(render_png(rescaled, window=window)), expected)
    assert np.array_equal(pixels(render_png(lut_ds, window=(2000.0, 1500.0))), expected)


def test_enhanced_per_frame_rescale_and_shared_window() -> None:
    frames = np.stack([ramp(), ramp()])
    ds = image_ds(frames)
    per_frame = []
    for slope in (1, 2):
        transformation = Dataset()
        transformation.RescaleSlope = slope
        transformation.RescaleIntercept = 0
        transformation.RescaleType = "US"
        group = Dataset()
        group.PixelValueTransformationSequence = [transformation]
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = 500, 101
    shared = Dataset()
    shared.FrameVOILUTSequence = [voi]
    ds.SharedFunctionalGroupsSequence = [shared]
    first, second = pixels(render_png(ds, 0)), pixels(render_png(ds, 1))
    # The window's centre is mid-grey: stored 500 in frame 0, stored 250 (x 2) in frame 1.
    assert abs(first[0, 500] - 128) <= 1 and abs(second[0, 250] - 128) <= 1
    assert first[0, 400] == 0 and second[0, 400] == 255


def test_automatic_window_ignores_a_few_extreme_pixels() -> None:
    values = np.tile(np.arange(100, dtype=np.uint16), (100, 1))
    values[0, 0] = 60000  # a single hot pixel would crush a min-max window
    arr = pixels(render_png(image_ds(values)))
    assert 100 < np.median(arr) < 160


def test_rt_dose_is_scaled_to_dose_units() -> None:
    ds = load("rtdose.dcm")  # Dose Grid Scaling 1e-6: doses from 0.795 to 1.254
    doubled = load("rtdose.dcm")
    doubled.DoseGridScaling = 2e-6
    assert render_png(ds, 3, window=(1.0, 0.5)) == render_png(doubled, 3, window=(2.0, 1.0))
    assert render_png(ds, 3, window=(1.0, 0.5)) != render_png(doubled, 3, window=(1.0, 0.5))


# -- Frames and sizes -------------------------------------------------------------------------


def test_frame_count() -> None:
    assert frame_count(load("CT_small.dcm")) == 1
    assert frame_count(load("rtdose.dcm")) == 15
    assert frame_count(load("examples_ybr_color.dcm")) == 30
    assert frame_count(load("rtplan.dcm")) == 0


def test_frames_of_a_multi_frame_instance() -> None:
    dose = load("rtdose.dcm")
    assert render_png(dose, 0) != render_png(dose, 14)
    colour = load("examples_ybr_color.dcm")  # JPEG baseline YBR_FULL_422, 30 frames
    assert png(render_png(colour, 29)).size == (320, 240)
    two = load("SC_rgb_rle_2frame.dcm")
    assert png(render_png(two, 1)).mode == "RGB"


@pytest.mark.parametrize("frame", [15, -1, 100])
def test_frame_out_of_range(frame: int) -> None:
    with pytest.raises(RenderError, match=r"out of range.*15 frame"):
        render_png(load("rtdose.dcm"), frame)


def test_size_is_the_longest_side() -> None:
    assert png(render_png(load("CT_small.dcm"), size=64)).size == (64, 64)
    assert png(render_png(load("JPEG2000.dcm"), size=128)).size == (32, 128)
    assert png(render_png(load("examples_palette.dcm"), size=200)).size == (200, 88)
    enlarged = png(render_png(load("SC_rgb_small_odd.dcm"), size=30))
    assert (enlarged.mode, enlarged.size) == ("RGB", (30, 30))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size"),
        ({"window": (40.0, 0.0)}, "window"),
        ({"window": (float("nan"), 400.0)}, "window"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_png(load("CT_small.dcm"), **kwargs)


# -- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sop_class"),
    [
        ("rtplan.dcm", "RT Plan Storage"),
        ("rtstruct.dcm", "RT Structure Set Storage"),
        ("test-SR.dcm", "Comprehensive SR Storage"),
        ("waveform_ecg.dcm", "12-lead ECG Waveform Storage"),
    ],
)
def test_nothing_to_render(name: str, sop_class: str) -> None:
    with pytest.raises(RenderError, match=f"{sop_class} object has no Pixel Data"):
        render_png(load(name))


def test_undecodable_syntax_is_named() -> None:
    # 12-bit JPEG Extended needs pylibjpeg-libjpeg (GPL), which Sinfonia does not install.
    with pytest.raises(RenderError) as caught:
        render_png(load("JPEG-lossy.dcm"))
    message = str(caught.value)
    assert "JPEG Extended (Process 2 and 4)" in message
    assert "1.2.840.10008.1.2.4.51" in message
    assert "pylibjpeg" in message  # what is missing
    assert isinstance(caught.value, ValueError)


def test_syntax_without_any_decoder() -> None:
    ds = load("MR_small.dcm")
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2 MP@ML
    with pytest.raises(RenderError, match=r"MPEG2.*no decoder"):
        render_png(ds)


def test_truncated_pixel_data() -> None:
    with pytest.raises(RenderError, match="less than expected"):
        render_png(load("MR_truncated.dcm"))


def test_without_file_meta() -> None:
    ds = image_ds(ramp())
    del ds.file_meta
    assert png(render_png(ds)).size == (1000, 4)
    compressed = load("MR_small_RLE.dcm")
    compressed.file_meta = FileMetaDataset()
    with pytest.raises(RenderError, match="no Transfer Syntax UID"):
        render_png(compressed)


def test_malformed_number_of_frames_is_counted_from_the_data() -> None:
    ds = load("badVR.dcm")  # Number of Frames is "1A"; the pixel data holds 15 frames
    assert frame_count(ds) == 15
    assert png(render_png(ds, 14)).size == (10, 10)


# -- RT summaries -----------------------------------------------------------------------------


def test_rt_plan_summary() -> None:
    summary = rt_summary(load("rtplan.dcm"))
    json.dumps(summary)
    assert summary["kind"] == "rtplan" and summary["ion"] is False
    assert (summary["label"], summary["name"], summary["date"]) == ("Plan1", "Plan1", "20030903")
    (beam,) = summary["beams"]
    assert beam["name"] == "Field 1" and beam["number"] == 1
    assert (beam["type"], beam["radiation_type"], beam["treatment_machine"]) == (
        "STATIC",
        "PHOTON",
        "unit001",
    )
    assert beam["nominal_energy"] == 6.0 and beam["control_points"] == 2
    assert (beam["gantry_angle"], beam["collimator_angle"], beam["couch_angle"]) == (0, 0, 0)
    assert beam["meterset"] == pytest.approx(116.0036697)
    (group,) = summary["prescription"]["fraction_groups"]
    assert group["fractions_planned"] == 30 and group["beams_per_fraction"] == 1
    targets = [
        ref["target_prescription_dose"]
        for ref in summary["prescription"]["dose_references"]
        if ref["type"] == "TARGET"
    ]
    assert targets == [pytest.approx(30.826203)]


def test_rt_ion_plan_summary() -> None:
    ds = Dataset()
    ds.SOPClassUID = RTIonPlanStorage
    ds.Modality = "RTPLAN"
    ds.RTPlanLabel = "Proton"
    control_point = Dataset()
    control_point.NominalBeamEnergy = 150
    control_point.GantryAngle = 90
    control_point.PatientSupportAngle = 270
    beam = Dataset()
    beam.BeamNumber = 1
    beam.BeamName = "P1"
    beam.RadiationType = "PROTON"
    beam.TreatmentMachineName = "Gantry1"
    beam.NumberOfControlPoints = 2
    beam.IonControlPointSequence = [control_point, Dataset()]
    ds.IonBeamSequence = [beam]
    referenced = Dataset()
    referenced.ReferencedBeamNumber = 1
    referenced.BeamMeterset = 1.5
    group = Dataset()
    group.NumberOfFractionsPlanned = 5
    group.ReferencedBeamSequence = [referenced]
    ds.FractionGroupSequence = [group]
    summary = rt_summary(ds)
    json.dumps(summary)
    assert summary["kind"] == "rtplan" and summary["ion"] is True
    (proton,) = summary["beams"]
    assert (proton["name"], proton["nominal_energy"], proton["meterset"]) == ("P1", 150.0, 1.5)
    assert (proton["gantry_angle"], proton["couch_angle"], proton["control_points"]) == (90, 270, 2)


def test_rt_struct_summary() -> None:
    summary = rt_summary(load("rtstruct.dcm"))
    json.dumps(summary)
    assert summary["kind"] == "rtstruct" and summary["label"] == "sep30"
    assert summary["date"] == "20091223"
    rois = summary["rois"]
    assert [roi["name"] for roi in rois] == ["patient", "Isocenter 1", "Isocenter 2"]
    assert [roi["number"] for roi in rois] == [1, 2, 3]
    assert [roi["interpreted_type"] for roi in rois] == ["EXTERNAL", "ISOCENTER", "ISOCENTER"]
    assert [roi["contour_count"] for roi in rois] == [3, 1, 1]
    assert rois[0]["color"] == [220, 160, 120]
    (frame,) = summary["referenced_frames_of_reference"]
    assert frame["frame_of_reference_uid"] == "1.2.826.0.1.3680043.8.498.2010020400001.2"
    assert frame["series_instance_uids"] == ["1.2.826.0.1.3680043.8.498.2010020400001.2.1.1"]


def test_rt_dose_summary() -> None:
    summary = rt_summary(load("rtdose.dcm"))
    json.dumps(summary)
    assert summary["kind"] == "rtdose"
    assert (summary["dose_units"], summary["dose_type"], summary["dose_summation_type"]) == (
        "RELATIVE",
        "PHYSICAL",
        "BEAM",
    )
    grid = summary["grid"]
    assert (grid["rows"], grid["columns"], grid["frames"]) == (10, 10, 15)
    assert summary["max_dose"] == pytest.approx(1.254)
    header_only = rt_summary(load("rtdose.dcm", pixels=False))
    assert header_only["grid"]["frames"] == 15 and header_only["max_dose"] is None


def test_other_objects_get_a_generic_summary() -> None:
    summary = rt_summary(load("CT_small.dcm"))
    json.dumps(summary)
    assert summary["kind"] == "other"
    assert (summary["modality"], summary["sop_class_name"]) == ("CT", "CT Image Storage")
    assert summary["frames"] == 1
    assert rt_summary(load("test-SR.dcm"))["frames"] == 0
    assert rt_summary(load("examples_ybr_color.dcm", pixels=False))["frames"] == 30


def test_truncated_plan_still_summarises() -> None:
    summary = rt_summary(load("rtplan_truncated.dcm"))
    json.dumps(summary)
    assert summary["kind"] == "rtplan"
