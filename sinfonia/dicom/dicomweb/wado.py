"""WADO-RS, the Retrieve transaction (PS3.18 §10.4): instances, metadata, frames, bulk data,
rendered images and thumbnails.

Which instances answer is `dicom.services.retrieve` (visible ones, each SOP Instance UID once,
audited). Files stream from the blob store one part at a time, so memory stays flat whatever
the size of a study.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydicom
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from pydicom.uid import UID, ExplicitVRLittleEndian

from sinfonia.api.files import stream
from sinfonia.core.context import Actor
from sinfonia.dicom import pixeldata
from sinfonia.dicom.dicomweb import multipart
from sinfonia.dicom.dicomweb.common import (
    DICOM_JSON,
    HttpProblem,
    accepted,
    accepts,
    bad_request,
    endpoint,
    json_response,
    multipart_ranges,
    not_acceptable,
    url,
)
from sinfonia.dicom.models import Instance
from sinfonia.dicom.render import RenderError, render_png
from sinfonia.dicom.services.retrieve import retrieve
from sinfonia.storage import blobstore

PIXEL_DATA_TAG = "7FE00010"
THUMBNAIL_SIZE = 128

# Media types of the compressed transfer syntaxes (PS3.18 Table 8.7.3-5): a frame sent as
# stored carries its transfer syntax in the part's Content-Type.
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
}
NATIVE = "application/octet-stream"


def _native_type() -> str:
    return f"{NATIVE}; transfer-syntax={ExplicitVRLittleEndian}"


def _multipart(
    request: HttpRequest, part_type: str, parts: Iterator[multipart.OutPart]
) -> StreamingHttpResponse:
    boundary = multipart.new_boundary()
    response = StreamingHttpResponse(
        stream(request, multipart.write(parts, boundary)),
        content_type=multipart.content_type(part_type, boundary),
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# -- Instances (PS3.18 §10.4.1.1.1) -----------------------------------------------------------


def _instance_syntaxes(request: HttpRequest) -> set[str] | None:
    """Transfer syntaxes the client accepts for application/dicom parts; None for any (no
    transfer-syntax parameter, or ``*``). Files are sent as stored, except that a client that
    names Explicit VR Little Endian and not the stored syntax gets the file decompressed."""
    wanted: set[str] = set()
    for part in multipart_ranges(request, "application/dicom"):
        if not part.matches("application/dicom"):
            continue
        syntax = part.params.get("transfer-syntax")
        if syntax is None or syntax == "*":
            return None
        wanted.add(syntax)
    if not wanted:
        raise not_acceptable('Instances are sent as multipart/related; type="application/dicom".')
    return wanted


@dataclass(frozen=True, slots=True)
class _File:
    sha256: str
    size: int
    transfer_syntax: str


def _files(rows: list[Instance]) -> list[_File]:
    out = []
    for row in rows:
        assert row.file.blob_id is not None
        out.append(_File(row.file.blob_id, row.file.size, row.transfer_syntax_uid))
    return out


def _instance_parts(files: list[_File], wanted: set[str] | None) -> Iterator[multipart.OutPart]:
    for f in files:
        syntax = f.transfer_syntax or ExplicitVRLittleEndian
        if wanted is None or syntax in wanted:
            yield multipart.OutPart(
                f"application/dicom; transfer-syntax={syntax}",
                blobstore.read_chunks(f.sha256),
                f.size,
            )
        else:
            data = _decompressed(f.sha256)
            yield multipart.OutPart(
                f"application/dicom; transfer-syntax={ExplicitVRLittleEndian}", [data], len(data)
            )


def _decompressed(sha256: str) -> bytes:
    """The instance in Explicit VR Little Endian (pixel data decoded; PS3.5 §A.2)."""
    ds = pydicom.dcmread(blobstore.blob_path(sha256))
    if ds.file_meta.TransferSyntaxUID != ExplicitVRLittleEndian:
        if UID(ds.file_meta.TransferSyntaxUID).is_compressed:
            ds.decompress()
        else:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _send_instances(
    request: HttpRequest, actor: Actor, study: str, series: str | None, sop: str | None
) -> StreamingHttpResponse:
    wanted = _instance_syntaxes(request)
    rows = retrieve(actor, study, series, sop, purpose="instances")
    convertible = wanted is None or ExplicitVRLittleEndian in wanted
    if not convertible and any(
        (r.transfer_syntax_uid or ExplicitVRLittleEndian) not in (wanted or ()) for r in rows
    ):
        raise not_acceptable(
            "Instances are sent in their stored transfer syntax or in Explicit VR Little "
            f"Endian ({ExplicitVRLittleEndian})."
        )
    return _multipart(request, "application/dicom", _instance_parts(_files(rows), wanted))


@endpoint("GET")
def study_instances(request: HttpRequest, actor: Actor, study: str) -> HttpResponseBase:
    return _send_instances(request, actor, study, None, None)


@endpoint("GET")
def series_instances(
    request: HttpRequest, actor: Actor, study: str, series: str
) -> HttpResponseBase:
    return _send_instances(request, actor, study, series, None)


@endpoint("GET")
def instance(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str
) -> HttpResponseBase:
    return _send_instances(request, actor, study, series, sop)


# -- Metadata (PS3.18 §10.4.1.1.2) ------------------------------------------------------------


def _metadata(request: HttpRequest, actor: Actor, *uids: str) -> HttpResponse:
    if not accepts(request, DICOM_JSON, "application/json"):
        raise not_acceptable("Metadata is sent as application/dicom+json only.")
    study, series, sop = uids[0], (uids[1:2] or (None,))[0], (uids[2:3] or (None,))[0]
    rows = retrieve(actor, study, series, sop, purpose="metadata", headers=True)
    out = []
    for row in rows:
        header = dict(row.header)
        s = row.series
        if row.number_of_frames:
            bits = header.get("00280100", {}).get("Value", [16])[0]
            compressed = UID(row.transfer_syntax_uid or ExplicitVRLittleEndian).is_compressed
            header[PIXEL_DATA_TAG] = {
                "vr": "OB" if compressed or bits <= 8 else "OW",
                "BulkDataURI": url(
                    request,
                    "bulkdata",
                    s.study.study_instance_uid,
                    s.series_instance_uid,
                    row.sop_instance_uid,
                    PIXEL_DATA_TAG,
                ),
            }
        if row.transfer_syntax_uid:
            header["00083002"] = {"vr": "UI", "Value": [row.transfer_syntax_uid]}
        out.append(dict(sorted(header.items())))
    return json_response(out)


@endpoint("GET")
def study_metadata(request: HttpRequest, actor: Actor, study: str) -> HttpResponse:
    return _metadata(request, actor, study)


@endpoint("GET")
def series_metadata(request: HttpRequest, actor: Actor, study: str, series: str) -> HttpResponse:
    return _metadata(request, actor, study, series)


@endpoint("GET")
def instance_metadata(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str
) -> HttpResponse:
    return _metadata(request, actor, study, series, sop)


# -- Frames and bulk data (PS3.18 §10.4.1.1.1, §8.7.3.3) --------------------------------------


def _frame_numbers(text: str) -> list[int]:
    """``1,3,5`` → [1, 3, 5]; frame numbers count from 1 (PS3.18 §10.4.1.1.1)."""
    try:
        numbers = [int(n) for n in text.split(",")]
    except ValueError as exc:
        raise bad_request(f"Frame numbers are a comma-separated list, not {text!r}.") from exc
    if not numbers or any(n < 1 for n in numbers):
        raise bad_request("Frame numbers start at 1.")
    return numbers


def _as_stored(request: HttpRequest, stored: str) -> bool:
    """Whether to send frames as stored (compressed) rather than native (PS3.18 §8.7.3.3):
    when the client accepts any transfer syntax (``transfer-syntax=*``) or names the stored
    one (or its media type). Native bytes (``application/octet-stream``, Explicit VR Little
    Endian) are the default, and what native instances always send."""
    compressed = UID(stored).is_compressed
    media = FRAME_MEDIA_TYPES.get(stored, NATIVE)
    native_ok = False
    for part in multipart_ranges(request, NATIVE):
        syntax = part.params.get("transfer-syntax")
        if compressed and (
            syntax == stored
            or (syntax == "*" and (part.matches(media) or part.matches(NATIVE)))
            or (syntax is None and part.type == media)
        ):
            return True
        if part.matches(NATIVE) and syntax in (None, "*", ExplicitVRLittleEndian):
            native_ok = True
    if native_ok:
        return False
    offer = f"{NATIVE}; transfer-syntax={ExplicitVRLittleEndian}"
    if compressed:
        offer = f"{media}; transfer-syntax={stored} or as {offer}"
    raise not_acceptable(f"Frames of this instance are available as {offer}.")


def _frame_parts(
    path: Any, numbers: list[int], as_stored: bool, first: multipart.OutPart
) -> Iterator[multipart.OutPart]:
    yield first
    for number in numbers[1:]:
        yield _frame_part(path, number, as_stored)


def _frame_part(path: Any, number: int, as_stored: bool) -> multipart.OutPart:
    if as_stored:
        data, syntax = pixeldata.stored_frame(path, number - 1)
        media = FRAME_MEDIA_TYPES.get(str(syntax), NATIVE)
        return multipart.OutPart(f"{media}; transfer-syntax={syntax}", [data], len(data))
    data = pixeldata.native_frame(path, number - 1)
    return multipart.OutPart(_native_type(), [data], len(data))


def _send_frames(request: HttpRequest, row: Instance, numbers: list[int]) -> HttpResponseBase:
    frames = row.number_of_frames or 0
    if not frames:
        raise HttpProblem(404, "no_pixel_data", "This instance has no pixel data, so no frames.")
    missing = [n for n in numbers if n > frames]
    if missing:
        raise HttpProblem(
            404, "no_such_frame", f"Frame {missing[0]} does not exist: the instance has {frames}."
        )
    stored = row.transfer_syntax_uid or ExplicitVRLittleEndian
    single = _single_part(request)
    as_stored = False if single else _as_stored(request, stored)
    assert row.file.blob_id is not None
    path = blobstore.blob_path(row.file.blob_id)
    try:
        first = _frame_part(path, numbers[0], as_stored)  # errors before the response starts
    except pixeldata.FrameError as exc:
        raise not_acceptable(f"Cannot provide the frames: {exc}") from exc
    parts = _frame_parts(path, numbers, as_stored, first)
    if single:
        body = (chunk for part in parts for chunk in part.chunks)
        response = StreamingHttpResponse(stream(request, body), content_type=first.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        return response
    return _multipart(request, first.content_type.split(";")[0], parts)


def _single_part(request: HttpRequest) -> bool:
    """A client that accepts ``application/octet-stream`` but no multipart body (OHIF's
    ``singlepart`` option) gets the native frames in one body, one after the other."""
    ranges = accepted(request)
    if any(r.type in ("*/*", "multipart/*", "multipart/related") for r in ranges):
        return False
    if any(r.type == NATIVE for r in ranges):
        return True
    raise not_acceptable(f"Frames are sent as multipart/related or as {NATIVE}.")


@endpoint("GET")
def frames(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str, frames: str
) -> HttpResponseBase:
    numbers = _frame_numbers(frames)
    (row,) = retrieve(actor, study, series, sop, purpose="frames")
    return _send_frames(request, row, numbers)


@endpoint("GET")
def bulkdata(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str, tag: str
) -> HttpResponseBase:
    """Pixel Data as bulk data: every frame, one part each (the BulkDataURI of metadata)."""
    if tag.upper() != PIXEL_DATA_TAG:
        raise HttpProblem(404, "no_bulkdata", f"No bulk data at {tag}: only Pixel Data is.")
    (row,) = retrieve(actor, study, series, sop, purpose="bulkdata")
    return _send_frames(request, row, list(range(1, (row.number_of_frames or 0) + 1)))


# -- Rendered and thumbnail (PS3.18 §10.4.1.1.3-4, §8.3.5) ------------------------------------

WINDOW_FUNCTIONS = {"linear", "linear-exact", "sigmoid"}


def _window(request: HttpRequest) -> tuple[float, float] | None:
    """``window=center,width,function`` (PS3.18 §8.3.5.1.4). The function must be one of the
    three keywords; rendering applies the window linearly (LINEAR_EXACT)."""
    raw = request.GET.get("window")
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 3 or parts[2].strip().lower() not in WINDOW_FUNCTIONS:
        raise bad_request("window is center,width,function (linear, linear-exact or sigmoid).")
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError as exc:
        raise bad_request(f"window center and width are decimal numbers, not {raw!r}.") from exc
    if width <= 0:
        raise bad_request("The window width must be positive.")
    return center, width


def _viewport(request: HttpRequest, rows: int | None, columns: int | None) -> int | None:
    """``viewport=vw,vh`` (PS3.18 §8.3.5.1.3) as the longest side that fits the image into
    vw x vh; cropping (sx, sy, sw, sh) is not supported."""
    raw = request.GET.get("viewport")
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) > 2 and any(p.strip() for p in parts[2:]):
        raise bad_request("viewport cropping (sx,sy,sw,sh) is not supported; send vw,vh.")
    try:
        vw, vh = int(parts[0]), int(parts[1])
    except (ValueError, IndexError) as exc:
        raise bad_request(f"viewport is vw,vh in pixels, not {raw!r}.") from exc
    if vw < 1 or vh < 1:
        raise bad_request("viewport width and height must be positive.")
    if not rows or not columns:
        return max(vw, vh)
    scale = min(vw / columns, vh / rows)
    return max(1, round(max(rows, columns) * scale))


def _render(
    request: HttpRequest,
    actor: Actor,
    uids: tuple[str, str | None, str | None],
    frame_text: str | None,
    *,
    thumbnail: bool,
) -> HttpResponse:
    if not accepts(request, "image/png"):
        raise not_acceptable("Rendered images are sent as image/png.")
    window = _window(request)
    numbers = _frame_numbers(frame_text) if frame_text is not None else [1]
    if len(numbers) != 1:
        raise bad_request("Render one frame at a time.")
    purpose = "thumbnail" if thumbnail else "rendered"
    study, series, sop = uids
    rows = retrieve(actor, study, series, sop, purpose=purpose)
    row = rows[0] if sop else _representative(rows)
    frames = row.number_of_frames or 0
    if numbers[0] > max(frames, 1):
        raise HttpProblem(
            404, "no_such_frame", f"Frame {numbers[0]} does not exist: the instance has {frames}."
        )
    size = _viewport(request, row.rows, row.columns)
    if thumbnail and size is None:
        size = THUMBNAIL_SIZE
    assert row.file.blob_id is not None
    try:
        ds = pydicom.dcmread(blobstore.blob_path(row.file.blob_id))
        png = render_png(ds, numbers[0] - 1, window=window, size=size)
    except RenderError as exc:
        raise not_acceptable(f"No image/png rendering of this instance: {exc}") from exc
    response = HttpResponse(png, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _representative(rows: list[Instance]) -> Instance:
    """The instance that stands for a study or series in a thumbnail: the middle image of the
    first series that has pixel data."""
    images = [r for r in rows if r.number_of_frames]
    if not images:
        return rows[0]
    first_series = [r for r in images if r.series_id == images[0].series_id]
    return first_series[len(first_series) // 2]


@endpoint("GET")
def instance_rendered(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str
) -> HttpResponse:
    return _render(request, actor, (study, series, sop), None, thumbnail=False)


@endpoint("GET")
def frames_rendered(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str, frames: str
) -> HttpResponse:
    return _render(request, actor, (study, series, sop), frames, thumbnail=False)


@endpoint("GET")
def study_thumbnail(request: HttpRequest, actor: Actor, study: str) -> HttpResponse:
    return _render(request, actor, (study, None, None), None, thumbnail=True)


@endpoint("GET")
def series_thumbnail(request: HttpRequest, actor: Actor, study: str, series: str) -> HttpResponse:
    return _render(request, actor, (study, series, None), None, thumbnail=True)


@endpoint("GET")
def instance_thumbnail(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str
) -> HttpResponse:
    return _render(request, actor, (study, series, sop), None, thumbnail=True)


@endpoint("GET")
def frames_thumbnail(
    request: HttpRequest, actor: Actor, study: str, series: str, sop: str, frames: str
) -> HttpResponse:
    return _render(request, actor, (study, series, sop), frames, thumbnail=True)
