"""Pictures of DICOM instances (one frame as PNG) and summaries of the RT objects that are not.

Pure functions over a pydicom `Dataset`: no Django, no storage. The display pipeline follows
PS3.4 N.2 (grayscale: stored values → Modality LUT → VOI LUT → Presentation LUT; colour: the
palette or colour space conversion) and always produces 8-bit PNGs (``L`` or ``RGB``).

Compressed pixel data is decoded by pydicom's decoder plugins, which try every installed plugin
in turn (gdcm, pylibjpeg with pylibjpeg-openjpeg / pylibjpeg-rle, Pillow, numpy for RLE), so no
configuration is needed; when none can decode a frame `RenderError` names the transfer syntax
and the plugins that are missing. Overlays (60xx groups) are not drawn.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, convert_color_space
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    RTDoseStorage,
    RTIonPlanStorage,
    RTPlanStorage,
    RTStructureSetStorage,
)

from sinfonia.dicom.tags import (
    functional_group,
    get_first_item,
    get_float,
    get_floats,
    get_int,
    get_items,
    get_str,
    get_value,
    pick,
)

Floats = npt.NDArray[np.float64]

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
NUMBER_OF_FRAMES = 0x00280008
RT_KINDS: dict[str, str] = {
    RTStructureSetStorage: "rtstruct",
    RTPlanStorage: "rtplan",
    RTIonPlanStorage: "rtplan",
    RTDoseStorage: "rtdose",
}


class RenderError(ValueError):
    """There is nothing to render, or the pixel data cannot be decoded; the message says why."""


# -- Public API -------------------------------------------------------------------------------


def frame_count(ds: Dataset) -> int:
    """The number of frames in `ds`'s pixel data: 0 without any, else Number of Frames (≥ 1)."""
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        return 0
    value = get_value(ds, "NumberOfFrames")
    if isinstance(value, int) or "NumberOfFrames" not in ds:
        return max(int(value or 1), 1)
    # Empty or malformed (tolerant when reading): as many frames as native pixel data holds.
    element = ds.data_element("PixelData")
    sizes = [get_int(ds, k) or 0 for k in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated")]
    bits = math.prod(sizes)
    if element is None or element.is_undefined_length or not bits:
        return 1
    return max(len(element.value or b"") * 8 // bits, 1)


def render_png(
    ds: Dataset,
    frame: int = 0,
    *,
    window: tuple[float, float] | None = None,
    size: int | None = None,
) -> bytes:
    """Return one frame of `ds` as an 8-bit PNG with a sensible default display.

    `frame` counts from 0. `window` is (center, width) in the units after the Modality LUT
    (e.g. HU, or Gy for RT Dose) and replaces the dataset's VOI; it is ignored for colour
    images. `size` is the longest side of the result in pixels (the aspect ratio is kept).

    Raises `RenderError` when `ds` has no pixel data, `frame` is out of range, `window` or
    `size` is invalid, or the pixel data cannot be decoded.
    """
    count = frame_count(ds)
    if count == 0:
        raise RenderError(
            f"this {_sop_class_name(ds)} object has no Pixel Data: there is no image to render"
            + (" (its RT summary describes it instead)" if _rt_kind(ds) else "")
        )
    if not 0 <= frame < count:
        raise RenderError(
            f"frame {frame} is out of range: this instance has {count} frame(s), "
            f"numbered 0 to {count - 1}"
        )
    if size is not None and size < 1:
        raise RenderError(f"size must be a positive number of pixels, not {size}")
    if window is not None and not (math.isfinite(window[0]) and window[1] > 0):
        raise RenderError(f"window width must be positive and center finite, not {window}")

    arr, photometric, bits_stored = _decode_frame(ds, frame)
    if photometric == "PALETTE COLOR":
        pixels = _palette_to_rgb(arr, ds)
    elif arr.ndim == 3:
        pixels = _colour_to_rgb(arr, photometric, bits_stored)
    else:
        pixels = _grayscale(arr, ds, frame, photometric, window)

    image = Image.fromarray(np.ascontiguousarray(pixels))
    if size is not None:
        image = _fit(image, size)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# -- Decoding ---------------------------------------------------------------------------------


def _decode_frame(ds: Dataset, frame: int) -> tuple[npt.NDArray[Any], str, int]:
    """Decode one frame: (array, photometric interpretation of the array, bits stored).

    pydicom already removes YBR_FULL_422 subsampling, converts YBR to RGB, masks the bits above
    Bits Stored (and so any overlay stored there), sign-extends signed values, and returns
    multi-sample pixels as Planar Configuration 0.
    """
    tsyntax = _transfer_syntax(ds)
    try:
        decoder = get_decoder(tsyntax)
    except Exception as exc:  # NotImplementedError for syntaxes pydicom cannot decode at all
        raise RenderError(
            f"cannot decode pixel data in {tsyntax.name} ({tsyntax}): no decoder exists for "
            "this transfer syntax"
        ) from exc
    if not decoder.is_available:
        raise RenderError(
            f"cannot decode pixel data in {tsyntax.name} ({tsyntax}): no decoding plugin is "
            f"installed (missing: {'; '.join(decoder.missing_dependencies)})"
        )
    source = ds
    if "NumberOfFrames" in ds and not isinstance(get_value(ds, "NumberOfFrames"), int):
        # Empty or malformed: decode a copy (sharing the values) that says how many there are.
        source = Dataset({tag: elem for tag, elem in ds.items() if tag != NUMBER_OF_FRAMES})
        source.NumberOfFrames = frame_count(ds)
    try:
        arr, properties = decoder.as_array(source, index=frame)
    except Exception as exc:
        reason = " ".join(str(exc).split())
        missing = decoder.missing_dependencies
        hint = f" (plugins not installed: {'; '.join(missing)})" if missing else ""
        raise RenderError(
            f"cannot decode pixel data in {tsyntax.name} ({tsyntax}): {reason}{hint}"
        ) from exc
    photometric = str(properties.get("photometric_interpretation") or "MONOCHROME2")
    bits_stored = int(properties.get("bits_stored") or arr.dtype.itemsize * 8)
    return arr, photometric.strip().upper(), bits_stored


def _transfer_syntax(ds: Dataset) -> UID:
    """The transfer syntax of `ds`'s pixel data, inferred for datasets without file meta."""
    file_meta = getattr(ds, "file_meta", None)
    tsyntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if tsyntax:
        return UID(str(tsyntax))
    element = ds.data_element("PixelData")
    if element is not None and element.is_undefined_length:
        raise RenderError(
            "cannot decode encapsulated pixel data: the dataset has no Transfer Syntax UID "
            "(0002,0010) to say how it is compressed"
        )
    # Native data: only the byte order matters (PS3.5 §8.1.1), taken from how ds was read.
    _, is_little_endian = ds.original_encoding
    return ExplicitVRBigEndian if is_little_endian is False else ExplicitVRLittleEndian


# -- Grayscale: PS3.4 N.2.1 -------------------------------------------------------------------


def _grayscale(
    arr: npt.NDArray[Any],
    ds: Dataset,
    frame: int,
    photometric: str,
    window: tuple[float, float] | None,
) -> npt.NDArray[np.uint8]:
    values = _modality_lut(arr, ds, frame)
    shown: Floats | None
    if window is not None:
        # LINEAR_EXACT is defined for any width > 0 (LINEAR needs ≥ 1), which matters for
        # real-valued outputs such as dose in Gy.
        shown = _window(values, window[0], window[1], "LINEAR_EXACT")
    else:
        shown = _dataset_voi(values, ds, frame)
    if shown is None:
        shown = _auto_window(values)
    # MONOCHROME1: the minimum value is white (PS3.3 C.7.6.3.1.2); a Presentation LUT Shape of
    # INVERSE means the same (PS3.3 C.11.6.1.2) and is not applied twice.
    if photometric == "MONOCHROME1" or get_value(ds, "PresentationLUTShape") == "INVERSE":
        shown = 1.0 - shown
    return np.rint(np.nan_to_num(shown) * 255.0).astype(np.uint8)


def _modality_lut(arr: npt.NDArray[Any], ds: Dataset, frame: int) -> Floats:
    """Stored values → modality values (PS3.3 C.11.1), incl. Enhanced per-frame rescale."""
    source = functional_group(ds, frame, "PixelValueTransformationSequence") or ds
    values: Floats = arr.astype(np.float64)
    lut = _lut(get_first_item(source, "ModalityLUTSequence"), ds)
    if lut is not None:
        values = _lookup(values, lut)
    else:
        slope = get_float(source, "RescaleSlope")
        intercept = get_float(source, "RescaleIntercept")
        if slope is not None and slope != 0:
            values = values * slope
        if intercept:
            values = values + intercept
    # RT Dose: "multiplied by the dose grid data ... yields grid doses" (PS3.3 C.8.8.3.4.2).
    dose_scaling = get_float(ds, "DoseGridScaling")
    if dose_scaling:
        values = values * dose_scaling
    return values


def _dataset_voi(values: Floats, ds: Dataset, frame: int) -> Floats | None:
    """The dataset's own VOI (PS3.3 C.11.2), or None when it has none that can be used."""
    source = functional_group(ds, frame, "FrameVOILUTSequence") or ds
    lut = _lut(get_first_item(source, "VOILUTSequence"), ds)
    if lut is not None:
        # Descriptors often misstate the output bit depth: normalise by the table's own range.
        low, high = float(lut[0].min()), float(lut[0].max())
        if high > low:
            return (_lookup(values, lut) - low) / (high - low)
    center, width = get_float(source, "WindowCenter"), get_float(source, "WindowWidth")
    if center is None or width is None or width <= 0:
        return None
    function = str(get_value(source, "VOILUTFunction") or "LINEAR").strip().upper()
    if function == "LINEAR" and width < 1:
        function = "LINEAR_EXACT"  # LINEAR is undefined below 1 (PS3.3 C.11.2.1.2.1)
    return _window(values, center, width, function)


def _window(values: Floats, center: float, width: float, function: str) -> Floats:
    """VOI LUT Function with output range [0, 1] (PS3.3 C.11.2.1.2 and C.11.2.1.3)."""
    if function == "SIGMOID":  # C.11.2.1.3.1
        return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (values - center) / width, -700, 700)))
    if function == "LINEAR_EXACT":  # C.11.2.1.3.2
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    # LINEAR, C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 -> min, x > c - 0.5 + (w-1)/2 -> max, and
    # a straight line between; a width of exactly 1 is a threshold at c - 0.5.
    if width <= 1:
        return (values > center - 0.5).astype(np.float64)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _auto_window(values: Floats) -> Floats:
    """A window over the 0.5 to 99.5 percentiles, robust to a few extreme pixels."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values)
    sample = finite[:: max(1, finite.size >> 20)]  # about a million values are plenty
    low, high = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if high <= low:  # e.g. a small bright object on a flat background
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _lut(item: Dataset | None, ds: Dataset) -> tuple[Floats, int] | None:
    """(table, first value mapped) of a Modality or VOI LUT item (PS3.3 C.11.1.1.1 and
    C.11.2.1.1); None when absent or malformed (tolerant when reading: the LUT is skipped)."""
    if item is None:
        return None
    try:
        entries, first_mapped = (int(v) for v in list(item.LUTDescriptor)[:2])
        if first_mapped >= 32768 and get_value(ds, "PixelRepresentation") == 1:
            first_mapped -= 65536  # read as US although it is SS for signed pixels
        data = item.LUTData
        if isinstance(data, bytes):  # OW: 16-bit words in the dataset's byte order
            order = "<" if ds.original_encoding[1] is not False else ">"
            table = np.frombuffer(data, dtype=f"{order}u2")[: entries or 65536]
        else:
            table = np.asarray([data] if isinstance(data, int) else list(data))
    except Exception:
        return None
    return (table.astype(np.float64), first_mapped) if table.size else None


def _lookup(values: Floats, lut: tuple[Floats, int]) -> Floats:
    table, first_mapped = lut
    index = np.clip(np.rint(values) - first_mapped, 0, table.size - 1).astype(np.intp)
    result: Floats = table[index]
    return result


# -- Colour: PS3.4 N.2.2 and N.2.3 ------------------------------------------------------------


def _colour_to_rgb(arr: npt.NDArray[Any], photometric: str, bits_stored: int) -> npt.NDArray[Any]:
    if photometric in ("YBR_FULL", "YBR_FULL_422"):  # pydicom normally converted it already
        arr = convert_color_space(arr, photometric, "RGB")
    elif photometric not in ("RGB", "YBR_ICT", "YBR_RCT"):  # J2K decoders return ICT/RCT as RGB
        raise RenderError(f"cannot render the {photometric} photometric interpretation")
    if arr.dtype == np.uint8 and bits_stored == 8:
        return arr
    scaled = arr.astype(np.float64) * (255.0 / (2.0**bits_stored - 1))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


def _palette_to_rgb(arr: npt.NDArray[Any], ds: Dataset) -> npt.NDArray[np.uint8]:
    try:
        rgb = apply_color_lut(arr, ds)
    except Exception as exc:
        raise RenderError(f"cannot apply the palette colour lookup tables: {exc}") from exc
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.max() <= 255:  # 16-bit entries declared, 8-bit values written (tolerant when reading)
        return rgb.astype(np.uint8)
    return (rgb >> 8).astype(np.uint8)


def _fit(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    scale = size / max(width, height)
    if scale == 1:
        return image
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Shrink smoothly; enlarge with visible pixels rather than invented detail.
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    return image.resize(new_size, resample)


# -- RT summaries -----------------------------------------------------------------------------


def rt_summary(ds: Dataset) -> dict[str, Any]:
    """A JSON-serialisable summary: structures for RTSTRUCT, beams and prescription for RTPLAN
    (RT Ion plans too), the dose grid for RTDOSE, and a generic one for anything else.

    Never raises for malformed or missing attributes: they are reported as None.
    """
    summary: dict[str, Any] = {
        "kind": _rt_kind(ds) or "other",
        "modality": get_str(ds, "Modality"),
        "sop_class_uid": get_str(ds, "SOPClassUID"),
        "sop_class_name": _sop_class_name(ds),
    }
    kind = summary["kind"]
    if kind == "rtstruct":
        summary.update(_structure_set(ds))
    elif kind == "rtplan":
        summary.update(_plan(ds))
    elif kind == "rtdose":
        summary.update(_dose(ds))
    else:
        descriptions = ("SeriesDescription", "StudyDescription", "ContentLabel")
        summary["description"] = next(filter(None, (get_str(ds, k) for k in descriptions)), None)
        summary["frames"] = _declared_frames(ds)
    return summary


def _rt_kind(ds: Dataset) -> str | None:
    sop_class = get_str(ds, "SOPClassUID")
    if sop_class:
        return RT_KINDS.get(sop_class)
    return {"RTSTRUCT": "rtstruct", "RTPLAN": "rtplan", "RTDOSE": "rtdose"}.get(
        get_str(ds, "Modality") or ""
    )


def _structure_set(ds: Dataset) -> dict[str, Any]:
    """PS3.3 C.8.8.5 Structure Set, C.8.8.6 ROI Contour, C.8.8.8 RT ROI Observations."""
    contours = {get_int(i, "ReferencedROINumber"): i for i in get_items(ds, "ROIContourSequence")}
    observations = {
        get_int(i, "ReferencedROINumber"): i for i in get_items(ds, "RTROIObservationsSequence")
    }
    rois = []
    for roi in get_items(ds, "StructureSetROISequence"):
        number = get_int(roi, "ROINumber")
        contour = contours.get(number, Dataset())
        rois.append(
            pick(roi, number="ROINumber", name="ROIName", description="ROIDescription")
            | pick(observations.get(number, Dataset()), interpreted_type="RTROIInterpretedType")
            | pick(contour, color="ROIDisplayColor")
            | {"contour_count": len(get_items(contour, "ContourSequence"))}
        )
    frames = [
        pick(frame, frame_of_reference_uid="FrameOfReferenceUID")
        | {
            "series_instance_uids": [
                uid
                for study in get_items(frame, "RTReferencedStudySequence")
                for series in get_items(study, "RTReferencedSeriesSequence")
                if (uid := get_str(series, "SeriesInstanceUID"))
            ]
        }
        for frame in get_items(ds, "ReferencedFrameOfReferenceSequence")
    ]
    return pick(
        ds,
        label="StructureSetLabel",
        name="StructureSetName",
        date="StructureSetDate",
        time="StructureSetTime",
    ) | {"referenced_frames_of_reference": frames, "rois": rois}


def _plan(ds: Dataset) -> dict[str, Any]:
    """PS3.3 C.8.8.9 RT General Plan, C.8.8.10 Prescription, C.8.8.13 Fraction Scheme,
    C.8.8.14 RT Beams (C.8.8.25 RT Ion Beams): the first control point holds every value
    (C.8.8.14.5), later ones only what changes."""
    ion = "Ion" if "IonBeamSequence" in ds else ""
    meterset: dict[int | None, float | None] = {}
    fraction_groups = []
    for group in get_items(ds, "FractionGroupSequence"):
        referenced = get_items(group, "ReferencedBeamSequence")
        for beam in referenced:
            meterset.setdefault(
                get_int(beam, "ReferencedBeamNumber"), get_float(beam, "BeamMeterset")
            )
        fraction_groups.append(
            pick(
                group,
                number="FractionGroupNumber",
                fractions_planned="NumberOfFractionsPlanned",
                beams_per_fraction="NumberOfBeams",
                brachy_application_setups="NumberOfBrachyApplicationSetups",
            )
            | {
                "referenced_beams": [
                    pick(beam, beam_number="ReferencedBeamNumber", meterset="BeamMeterset")
                    | pick(beam, dose="BeamDose")
                    for beam in referenced
                ]
            }
        )
    beams = []
    for beam in get_items(ds, f"{ion}BeamSequence"):
        control_points = get_items(beam, f"{ion}ControlPointSequence")
        first = control_points[0] if control_points else Dataset()
        beams.append(
            pick(beam, number="BeamNumber", name="BeamName", description="BeamDescription")
            | pick(beam, type="BeamType", radiation_type="RadiationType")
            | pick(beam, delivery_type="TreatmentDeliveryType")
            | pick(beam, treatment_machine="TreatmentMachineName")
            | pick(first, nominal_energy="NominalBeamEnergy", gantry_angle="GantryAngle")
            | pick(first, collimator_angle="BeamLimitingDeviceAngle")
            | pick(first, couch_angle="PatientSupportAngle", isocenter="IsocenterPosition")
            | {"meterset": meterset.get(get_int(beam, "BeamNumber"))}
            | pick(beam, meterset_unit="PrimaryDosimeterUnit")
            | {"control_points": get_int(beam, "NumberOfControlPoints") or len(control_points)}
        )
    dose_references = [
        pick(item, number="DoseReferenceNumber", description="DoseReferenceDescription")
        | pick(item, type="DoseReferenceType", structure_type="DoseReferenceStructureType")
        | pick(item, target_prescription_dose="TargetPrescriptionDose")
        | pick(item, delivery_maximum_dose="DeliveryMaximumDose")
        for item in get_items(ds, "DoseReferenceSequence")
    ]
    return (
        {"ion": bool(ion)}
        | pick(ds, label="RTPlanLabel", name="RTPlanName", description="RTPlanDescription")
        | pick(ds, date="RTPlanDate", time="RTPlanTime", intent="PlanIntent")
        | pick(ds, geometry="RTPlanGeometry", approval_status="ApprovalStatus")
        | {
            "prescription": {
                "dose_references": dose_references,
                "fraction_groups": fraction_groups,
            },
            "beams": beams,
            "brachy_application_setups": len(get_items(ds, "ApplicationSetupSequence")),
        }
    )


def _dose(ds: Dataset) -> dict[str, Any]:
    """PS3.3 C.8.8.3 RT Dose; the maximum is in Dose Units after Dose Grid Scaling."""
    frames = _declared_frames(ds)
    plans = get_items(ds, "ReferencedRTPlanSequence")
    return pick(ds, dose_units="DoseUnits", dose_type="DoseType") | {
        "dose_summation_type": get_str(ds, "DoseSummationType"),
        "dose_grid_scaling": get_float(ds, "DoseGridScaling"),
        "grid": pick(ds, rows="Rows", columns="Columns", pixel_spacing="PixelSpacing")
        | {"frames": frames, "frame_offsets": get_floats(ds, "GridFrameOffsetVector")},
        "max_dose": _max_dose(ds, frames),
        "referenced_plan_uid": get_str(plans[0], "ReferencedSOPInstanceUID") if plans else None,
    }


def _declared_frames(ds: Dataset) -> int:
    """Frames of the pixel data, or those the header declares when it was read without it."""
    return frame_count(ds) or ((get_int(ds, "NumberOfFrames") or 1) if "Rows" in ds else 0)


def _max_dose(ds: Dataset, frames: int) -> float | None:
    if not frame_count(ds):
        return None  # read without its pixel data
    try:
        peaks = [
            float(np.nanmax(_modality_lut(_decode_frame(ds, i)[0], ds, i))) for i in range(frames)
        ]
    except (RenderError, ValueError):  # undecodable pixel data: no maximum
        return None
    return max(peaks) if peaks and math.isfinite(max(peaks)) else None


def _sop_class_name(ds: Dataset) -> str:
    uid = get_str(ds, "SOPClassUID")
    return UID(uid).name if uid else "DICOM"
