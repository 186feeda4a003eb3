"""Simple (multipart) upload and streamed download of single files."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS, detail
from sinfonia.api.schemas import ErrorOut, NodeDetailOut
from sinfonia.core.errors import Invalid
from sinfonia.core.http import SANDBOX_POLICY
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Level
from sinfonia.resources.selectors import get_node
from sinfonia.resources.services import files
from sinfonia.storage import blobstore

router = Router(tags=["files"])


@router.post(
    "/files",
    response={201: NodeDetailOut, 413: ErrorOut, **ERRORS},
    summary="Upload one small file (multipart). Large files: the resumable upload API.",
)
def upload(
    request: HttpRequest,
    parent_id: Form[int],
    file: File[UploadedFile],
    name: Form[str | None] = None,
    fileset_name: Form[str | None] = None,
    sinfonia_id: Form[str | None] = None,
    organise: Form[bool] = False,
) -> Status[dict[str, Any]]:
    """Into a fileset, the file joins it; into a folder or collection, a new fileset (named
    ``fileset_name`` or after the file) is created to hold it. With ``organise``, DICOM is
    filed into Patient / Study / Series folders there once indexed."""
    a = actor(request)
    if file.size is not None and file.size > settings.SINFONIA_MAX_SIMPLE_UPLOAD:
        raise Invalid(
            ResourceError.TOO_LARGE,
            f"Simple uploads take at most {settings.SINFONIA_MAX_SIMPLE_UPLOAD} bytes; "
            "use the resumable upload API for larger files.",
        )
    parent = get_node(a, parent_id, Level.READ)
    node = files.upload_file(
        a,
        parent,
        name if name is not None else (file.name or ""),
        file,  # type: ignore[arg-type]  # UploadedFile streams like a binary file
        content_type=file.content_type or "",
        fileset_name=fileset_name,
        sinfonia_id=sinfonia_id,
        organise=organise,
    )
    return Status(201, detail(request, node))


def stream(request: HttpRequest, chunks: Iterator[bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    """Chunks as the server wants them: asynchronous under ASGI so no worker thread is held
    between chunks (reads run in a thread pool), plain under WSGI and the test client."""
    if not isinstance(request, ASGIRequest):
        return chunks

    def take() -> bytes:
        return next(chunks, b"")

    async def async_chunks() -> AsyncIterator[bytes]:
        read = sync_to_async(take, thread_sensitive=False)
        while chunk := await read():
            yield chunk

    return async_chunks()


RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single ``Range: bytes=a-b`` (RFC 9110 §14.1.2); None when absent or
    not understood (multiple ranges): the whole file is sent. Raises for unsatisfiable."""
    match = RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise Unsatisfiable
    return start, end


class Unsatisfiable(Exception):
    pass


def file_response(request: HttpRequest, download: files.Download) -> HttpResponseBase:
    """A file's bytes with ETag (its SHA-256), conditional GET, single byte ranges, and its
    UTF-8 name in Content-Disposition (RFC 6266 / RFC 5987)."""
    etag = f'"{download.sha256}"'
    if etag in request.headers.get("If-None-Match", ""):
        not_modified = HttpResponse(status=304)
        not_modified["ETag"] = etag
        return not_modified
    wanted = None
    if_range = request.headers.get("If-Range")
    if "Range" in request.headers and (if_range is None or if_range == etag):
        try:
            wanted = byte_range(request.headers["Range"], download.size)
        except Unsatisfiable:
            refused = HttpResponse(status=416)
            refused["Content-Range"] = f"bytes */{download.size}"
            return refused
    start, end = wanted if wanted else (0, download.size - 1)
    length = end - start + 1 if download.size else 0
    response = StreamingHttpResponse(
        stream(request, blobstore.read_chunks(download.sha256, start, length)),
        content_type=download.mime_type,
        status=206 if wanted else 200,
    )
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{download.size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Content-Disposition"] = content_disposition_header(True, download.name) or ""
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get(
    "/files/{node_id}/download",
    response={200: None, 206: None, 304: None, 416: None, **ERRORS},
    summary="Download a file's bytes (streamed; Range, ETag; UTF-8 names per RFC 5987)",
)
def download(request: HttpRequest, node_id: int, inline: bool = False) -> HttpResponseBase:
    """``inline=1`` lets the browser show the file in place (the portal's previewer), but only
    for types it renders without running the file's content: never HTML or SVG."""
    a = actor(request)
    response = file_response(request, files.open_download(a, get_node(a, node_id)))
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    if inline and response.status_code in (200, 206) and content_type in INLINE_TYPES:
        disposition = response["Content-Disposition"]
        response["Content-Disposition"] = "inline" + disposition[len("attachment") :]
        response["X-Frame-Options"] = "SAMEORIGIN"
    elif response.status_code in (200, 206):
        # An attachment: should a browser render it anyway (HTML, SVG, XML), nothing in it runs.
        response["Content-Security-Policy"] = SANDBOX_POLICY
    return response


# Shown in place with ``?inline=1``: media and PDF, which browsers render without scripts.
INLINE_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/bmp",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/x-wav",
        "audio/webm",
        "audio/flac",
        "text/plain",
    }
)
