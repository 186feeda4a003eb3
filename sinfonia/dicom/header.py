"""An instance's header parsed once: its DICOM JSON (PS3.18 F.2, what the index stores) and the
few values indexing, filing and naming need, read from that JSON.

Reading the JSON first, while pydicom's elements are still raw, takes `tags.header_json`'s fast
path for almost every element; each ``ds.get(...)`` before it would have converted an element
through pydicom first (about 30 µs each, most of the cost of indexing a small instance). The
values below are plain JSON types: text as ``str``, IS/US as ``int``, DS as ``float``, PN in
its DICOM string form (``Alphabetic=Ideographic=Phonetic``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, BinaryIO

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from sinfonia.dicom.pixeldata import FrameError, locate
from sinfonia.dicom.tags import header_json


@cache
def _json_key(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}"


def _person_name(value: Any) -> str:
    """A PN value of DICOM JSON (PS3.18 F.2.2) as its DICOM string."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    groups = [str(value.get(g) or "") for g in ("Alphabetic", "Ideographic", "Phonetic")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def _values(json: dict[str, Any], keyword: str) -> list[Any]:
    element = json.get(_json_key(keyword))
    if not element:
        return []
    values = element.get("Value") or []
    if element.get("vr") == "PN":
        return [_person_name(v) for v in values]
    return list(values)


def _text(json: dict[str, Any], keyword: str, limit: int) -> str:
    values = _values(json, keyword)
    text = (
        values[0]
        if len(values) == 1 and type(values[0]) is str
        else "\\".join("" if v is None else str(v) for v in values)
    )
    return text.replace("\0", "").strip()[:limit]


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header: ``json``, its DICOM JSON, and the UIDs asked for at every step of
    storing an instance ("" where missing). Plain data: a header read in a helper process
    (`dicom.readers`) comes back whole."""

    json: dict[str, Any] = field(repr=False)
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    transfer_syntax_uid: str = ""

    @classmethod
    def of(cls, ds: Dataset) -> Header:
        """The header of ``ds`` (its file meta gives the transfer syntax)."""
        json = header_json(ds)
        meta = getattr(ds, "file_meta", None)
        syntax = meta.get("TransferSyntaxUID") if meta is not None else None
        return cls(
            json,
            sop_class_uid=_text(json, "SOPClassUID", 64),
            sop_instance_uid=_text(json, "SOPInstanceUID", 64),
            study_instance_uid=_text(json, "StudyInstanceUID", 64),
            series_instance_uid=_text(json, "SeriesInstanceUID", 64),
            transfer_syntax_uid=""
            if syntax is None
            else str(syntax).replace("\0", "").strip()[:64],
        )

    def values(self, keyword: str) -> list[Any]:
        """The values of a top-level attribute (PN as strings); [] when absent or empty."""
        return _values(self.json, keyword)

    def first(self, keyword: str) -> Any:
        values = self.values(keyword)
        return values[0] if values else None

    def text(self, keyword: str, limit: int) -> str:
        """The attribute as text (several values joined by backslashes, as encoded), without
        NULs and outer spaces, cut to ``limit`` characters."""
        return _text(self.json, keyword, limit)

    def int(self, keyword: str) -> int | None:
        value = self.first(keyword)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip()) if value not in (None, "") else None
        except ValueError:
            return None

    def floats(self, keyword: str) -> list[float] | None:
        try:
            return [float(v) for v in self.values(keyword)]
        except (TypeError, ValueError):
            return None


class Unreadable(ValueError):
    """Bytes that are not a complete, readable DICOM Part 10 file; the message says why."""


def read(source: BinaryIO) -> Header:
    """The header of the Part 10 file ``source`` (an open file, or its bytes in a
    ``BytesIO``); `Unreadable` unless it is complete, its pixel data included."""
    try:
        pixels = locate(source)
        if pixels is None:
            source.seek(0)
            return Header.of(pydicom.dcmread(source))
        return Header.of(pixels.header)
    except FrameError as exc:
        raise Unreadable(f"Incomplete DICOM: {exc}") from exc
    except Exception as exc:  # pydicom raises many kinds for garbled or truncated data
        raise Unreadable(f"Not a readable DICOM Part 10 file: {type(exc).__name__}: {exc}") from exc
