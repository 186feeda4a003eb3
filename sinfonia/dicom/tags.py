"""Reading a dataset's attributes: tag lists for display and the API, the DICOM JSON header,
tag search, the order of instances in a series, and tolerant single-value readers.

Tolerant when reading: a value pydicom cannot convert never fails the whole operation. In
`tag_list` it is shown as the raw bytes' repr with ``"malformed": True``; in `header_json` it
keeps only its VR; the ``get_*`` readers return None for it. Pure functions, no Django.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from pydicom import Dataset
from pydicom.datadict import dictionary_description, dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.tag import BaseTag

PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # Float, Double Float, Pixel
TRAILING_PADDING_TAG = 0xFFFCFFFC
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
BULK_DATA_THRESHOLD = 1024  # bytes; larger binary values stay out of the stored header

Element = dict[str, Any]


# -- Tag list ---------------------------------------------------------------------------------


def tag_list(ds: Dataset, *, include_private: bool = True) -> list[Element]:
    """Every element of `ds` (File Meta Information first), in tag order, as plain JSON types.

    Each element is ``{"tag": "0008,0060", "keyword": "Modality", "name": "Modality",
    "vr": "CS", "value": "CT"}``. Sequences have ``"value": None`` and ``"items"``, a list of
    element lists. Private elements have keyword ``""`` and the private dictionary's name when
    pydicom knows their creator. Binary values (OB/OD/OF/OL/OV/OW/UN, Pixel Data) are
    ``"<N bytes>"``; PN, UI, DA, TM and DT are their DICOM strings; IS and DS are numbers;
    AT is ``"gggg,eeee"``; several values are a list. A value that cannot be converted is its
    raw repr, with ``"malformed": True`` and the reason in ``"error"``.
    """
    file_meta = getattr(ds, "file_meta", None)
    meta = _elements(file_meta, include_private) if isinstance(file_meta, Dataset) else []
    return meta + _elements(ds, include_private)


def _elements(ds: Dataset, include_private: bool) -> list[Element]:
    return [
        _element(ds, tag, include_private)
        for tag in sorted(ds.keys())
        if include_private or not tag.is_private
    ]


def _element(ds: Dataset, tag: BaseTag, include_private: bool) -> Element:
    entry: Element = {"tag": tag_text(tag), "keyword": "", "name": "", "vr": "", "value": None}
    try:
        elem = ds[tag]  # converts the raw value; also sets a private element's creator
    except Exception as exc:  # a warning raised as an error counts too
        raw = ds.get_item(tag)
        entry["vr"] = str(getattr(raw, "VR", None) or "UN")
        if not tag.is_private:
            entry["keyword"] = keyword_for_tag(tag)
            entry["name"] = _public_name(tag)
        entry.update(value=repr(getattr(raw, "value", None)), malformed=True, error=str(exc))
        return entry
    entry["keyword"] = "" if tag.is_private else elem.keyword
    name = elem.name
    entry["name"] = name[1:-1] if tag.is_private and name.startswith("[") else name
    entry["vr"] = str(elem.VR)
    if elem.VR == "SQ":
        entry["items"] = [_elements(item, include_private) for item in elem.value or []]
        return entry
    entry["value"] = _display_value(tag, str(elem.VR), elem.value)
    if elem.VR in ("IS", "DS") and _has_text(entry["value"]):
        # pydicom keeps numbers it could not parse as strings (reading validation mode WARN)
        entry.update(malformed=True, error=f"not a valid {elem.VR} number")
    return entry


def _public_name(tag: BaseTag) -> str:
    try:
        return dictionary_description(tag)
    except KeyError:
        return ""


def _display_value(tag: BaseTag, vr: str, value: Any) -> Any:
    if tag in PIXEL_DATA_TAGS or vr in BULK_VRS or isinstance(value, bytes | bytearray):
        return f"<{len(value) if isinstance(value, bytes | bytearray) else 0} bytes>"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return _plain(value)


def _plain(value: Any) -> Any:
    """One value as a JSON type: numbers stay numbers, everything else its DICOM string."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, date | time | datetime):  # pydicom.config.datetime_conversion
        original = getattr(value, "original_string", None)
        return original if isinstance(original, str) else value.isoformat()
    if isinstance(value, BaseTag):
        return tag_text(value)
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return str(value)  # str, UID, PersonName


def _has_text(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and v.strip() for v in values)


def tag_text(tag: int) -> str:
    """``"gggg,eeee"`` in upper-case hex, as the tag list shows tags."""
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"


# -- DICOM JSON header: PS3.18 F.2 ------------------------------------------------------------


def header_json(ds: Dataset, *, bulk_data_threshold: int = BULK_DATA_THRESHOLD) -> dict[str, Any]:
    """`ds` in the DICOM JSON model (PS3.18 F.2) without pixel data, for storing and for
    QIDO-RS / WADO-RS metadata.

    Left out: Pixel Data, Float and Double Float Pixel Data, group lengths (gggg,0000) and
    trailing padding. Binary values of more than `bulk_data_threshold` bytes keep only their
    ``"vr"`` (neither InlineBinary nor BulkDataURI; the DICOMweb layer may add a BulkDataURI).
    Keys are in tag order, values are plain JSON (no NaN), so equal headers serialise equally.
    """
    return _header_json(ds, bulk_data_threshold, _plain_text(ds))


def _header_json(ds: Dataset, threshold: int, plain_text: bool) -> dict[str, Any]:
    return {
        f"{tag:08X}": _json_element(ds, tag, threshold, plain_text)
        for tag in sorted(ds.keys())
        if tag not in PIXEL_DATA_TAGS and tag.element != 0 and tag != TRAILING_PADDING_TAG
    }


# Values read straight from their encoded bytes, without pydicom's conversion (most of the
# cost of indexing an instance): text in ASCII, numbers as text (IS, DS) or binary. Anything
# else, or any doubt, takes the general path below; the two agree on every file of pydicom's
# test data (tests/dicom/test_tags.py).
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI"})
_TEXT_VRS = frozenset({"LO", "SH"})  # text in the character set, multi-valued
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UT"})  # text, one value (a backslash is text)
_PLAIN_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192"})
_NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}


def _plain_text(ds: Dataset) -> bool:
    """Whether ASCII bytes of the data set's text mean ASCII text (its character set keeps
    ASCII as it is)."""
    raw = ds.get_item(0x00080005)
    if raw is None:
        return True
    value = raw.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        return value.strip(" \0") in _PLAIN_CHARSETS
    return False


def _fast_json_element(raw: Any, plain_text: bool) -> dict[str, Any] | None:
    """The DICOM JSON of a raw (not yet converted) element, or None to take the general path."""
    vr = raw.VR
    value = raw.value
    if raw.is_implicit_VR or not raw.is_little_endian or vr is None or value is None:
        return None
    if vr in _ASCII_VRS or vr in ("IS", "DS") or (plain_text and vr in _TEXT_VRS):
        if not value.isascii() or b"\x1b" in value:
            return None
        parts = value.decode("ascii").rstrip("\0 ").split("\\")
        if len(parts) == 1 and not parts[0]:
            return {"vr": vr}
        if any(not v for v in parts):
            return None  # empty values inside a list: the general path decides
        if vr == "IS":
            if not all(v.strip().lstrip("+-").isdigit() for v in parts):
                return None
            return {"vr": vr, "Value": [int(v) for v in parts]}
        if vr == "DS":
            try:
                numbers = [float(v) for v in parts]
            except ValueError:
                return None
            if not all(math.isfinite(n) for n in numbers):
                return None
            return {"vr": vr, "Value": numbers}
        return {"vr": vr, "Value": parts}
    if plain_text and vr in _SINGLE_TEXT_VRS:
        if not value.isascii() or b"\x1b" in value:
            return None
        text = value.decode("ascii").rstrip("\0 ")
        return {"vr": vr, "Value": [text]} if text else {"vr": vr}
    number = _NUMBER_FORMATS.get(vr)
    if number is not None:
        size = struct.calcsize(f"<{number}")
        if len(value) % size:
            return None
        values = list(struct.unpack(f"<{len(value) // size}{number}", value))
        if not values:
            return {"vr": vr}
        if vr in ("FL", "FD") and not all(math.isfinite(v) for v in values):
            return None
        return {"vr": vr, "Value": values}
    return None


def _json_element(
    ds: Dataset, tag: BaseTag, threshold: int, plain_text: bool = False
) -> dict[str, Any]:
    raw = ds.get_item(tag)
    if getattr(raw, "is_raw", False):
        fast = _fast_json_element(raw, plain_text)
        if fast is not None:
            return fast
    try:
        elem = ds[tag]
    except Exception:  # malformed value: keep the attribute, drop the value
        raw = ds.get_item(tag)
        return {"vr": _json_vr(str(getattr(raw, "VR", None) or "UN"))}
    vr = _json_vr(str(elem.VR))
    if vr == "SQ":
        # Items have their parent's character set (when not their own): general path for text.
        items = [_header_json(item, threshold, False) for item in elem.value or []]
        return {"vr": vr, "Value": items} if items else {"vr": vr}
    value = elem.value
    if vr in BULK_VRS or isinstance(value, bytes | bytearray):
        data = bytes(value) if isinstance(value, bytes | bytearray) else b""
        if not data or len(data) > threshold:
            return {"vr": vr}
        return {"vr": vr, "InlineBinary": base64.b64encode(data).decode("ascii")}
    try:
        encoded = elem.to_json_dict(None, threshold)
    except Exception:  # e.g. an IS that is not a number
        return {"vr": vr}
    result: dict[str, Any] = {"vr": vr}
    if "Value" in encoded:
        result["Value"] = [_json_number(v) for v in encoded["Value"]]
    return result


def _json_vr(vr: str) -> str:
    # An ambiguous VR pydicom could not resolve ("US or SS", "OB or OW"): JSON needs one.
    return vr.split(" or ")[0] if " or " in vr else vr


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


# -- Search -----------------------------------------------------------------------------------


def search(tags: list[Element], query: str) -> list[Element]:
    """The elements of a `tag_list` whose tag, keyword, name or value contains `query`,
    case-insensitively. Inside sequences the tree is pruned: a sequence that matches itself is
    kept whole; otherwise it is kept with only its items that contain a match, and those with
    only their matching elements. An empty query returns `tags` unchanged.
    """
    needle = query.strip().lower()
    if not needle:
        return tags
    return _search(tags, needle)


def _search(elements: list[Element], needle: str) -> list[Element]:
    found = []
    for element in elements:
        if _matches(element, needle):
            found.append(element)
            continue
        items = [_search(item, needle) for item in element.get("items") or []]
        items = [item for item in items if item]
        if items:
            found.append({**element, "items": items})
    return found


def _matches(element: Element, needle: str) -> bool:
    tag = str(element.get("tag", "")).lower()
    keys = (tag, tag.replace(",", ""), f"({tag})", element.get("keyword"), element.get("name"))
    if any(needle in str(key).lower() for key in keys if key):
        return True
    value = element.get("value")
    values = value if isinstance(value, list) else [value]
    text = "\\".join("" if v is None else str(v) for v in values)  # as DICOM joins values
    return needle in text.lower()


# -- Order of instances in a series -----------------------------------------------------------


def ordering_key(ds: Dataset) -> tuple[int, int, int, float, tuple[int, ...], str]:
    """Sort key for the instances of a series: Instance Number, then position along the slice
    normal (Image Position (Patient) dot (row cross column direction cosines), PS3.3 C.7.6.2.1.1),
    then SOP Instance UID by its numeric components. Never the file name. Missing values sort
    last, and keys of any two instances compare.
    """
    number = get_int(ds, "InstanceNumber")
    position = _slice_position(ds)
    uid = get_str(ds, "SOPInstanceUID") or ""
    components = tuple(int(part) if part.isdigit() else -1 for part in uid.split("."))
    return (
        number is None,
        number if number is not None else 0,
        position is None,
        position if position is not None else 0.0,
        components,
        uid,
    )


def _slice_position(ds: Dataset) -> float | None:
    position = get_floats(ds, "ImagePositionPatient")
    if position is None or len(position) != 3:
        return None
    cosines = get_floats(ds, "ImageOrientationPatient")
    if cosines is None or len(cosines) != 6:
        return position[2]  # no orientation: assume axial slices
    row, column = cosines[:3], cosines[3:]
    normal = (
        row[1] * column[2] - row[2] * column[1],
        row[2] * column[0] - row[0] * column[2],
        row[0] * column[1] - row[1] * column[0],
    )
    return sum(p * n for p, n in zip(position, normal, strict=True))


# -- Tolerant single-value readers ------------------------------------------------------------


def get_value(ds: Dataset, keyword: str) -> Any:
    """`ds.get(keyword)`, or None when pydicom cannot convert the value."""
    try:
        return ds.get(keyword)
    except Exception:  # a malformed raw value; may be a validation warning raised as error
        return None


def get_str(ds: Dataset, keyword: str) -> str | None:
    """The value as stripped text (several values joined by ``\\``); None when empty."""
    value = get_value(ds, keyword)
    if value is None or isinstance(value, bytes | bytearray | Dataset):
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        if any(isinstance(v, Dataset) for v in value):
            return None
        value = "\\".join(str(v) for v in value)
    text = str(value).strip()
    return text or None


def get_floats(ds: Dataset, keyword: str) -> list[float] | None:
    """All values as finite floats; None when absent, empty or not numeric."""
    value = get_value(ds, keyword)
    if value is None or isinstance(value, bytes | bytearray):
        return None
    values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    if not numbers or not all(math.isfinite(n) for n in numbers):
        return None
    return numbers


def get_float(ds: Dataset, keyword: str) -> float | None:
    """The first value as a float (e.g. the first of several Window Centers)."""
    numbers = get_floats(ds, keyword)
    return numbers[0] if numbers else None


def get_int(ds: Dataset, keyword: str) -> int | None:
    """The first value rounded to an int."""
    number = get_float(ds, keyword)
    return round(number) if number is not None else None


def get_items(ds: Dataset, keyword: str) -> list[Dataset]:
    """The items of a sequence; empty when absent or not a sequence."""
    value = get_value(ds, keyword)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, Dataset)]


def get_first_item(ds: Dataset, keyword: str) -> Dataset | None:
    """The first item of a sequence, or None."""
    items = get_items(ds, keyword)
    return items[0] if items else None


def functional_group(ds: Dataset, frame: int, keyword: str) -> Dataset | None:
    """The first item of the `keyword` functional group macro for `frame` (0-based) of an
    Enhanced multi-frame object: per-frame first, then shared (PS3.3 C.7.6.16)."""
    per_frame = get_items(ds, "PerFrameFunctionalGroupsSequence")
    if frame < len(per_frame) and (item := get_first_item(per_frame[frame], keyword)):
        return item
    shared = get_items(ds, "SharedFunctionalGroupsSequence")
    return get_first_item(shared[0], keyword) if shared else None


def pick(ds: Dataset, **fields: str) -> dict[str, Any]:
    """``{name: value}`` for ``name=keyword`` pairs, each value read as the data dictionary's VR
    and VM say: a number (IS and binary integers as int, DS/FL/FD as float) or a string, a list
    of them when the VM is not 1, None when absent, empty or malformed."""
    return {name: _typed(ds, keyword) for name, keyword in fields.items()}


def _typed(ds: Dataset, keyword: str) -> Any:
    vr = dictionary_VR(keyword)
    if vr not in ("IS", "DS", "FL", "FD", "US", "SS", "UL", "SL", "UV", "SV"):
        return get_str(ds, keyword)
    numbers = get_floats(ds, keyword)
    if numbers is None:
        return None
    values: list[Any] = numbers if vr in ("DS", "FL", "FD") else [round(n) for n in numbers]
    return values if dictionary_VM(keyword) != "1" else values[0]
