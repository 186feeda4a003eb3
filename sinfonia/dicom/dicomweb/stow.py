"""STOW-RS, the Store transaction (PS3.18 §10.5): ``multipart/related; type="application/dicom"``
bodies, one instance per part, answered with a Store Instances Response Module (PS3.18 Annex I).

The body is read part by part; each part streams into the blob store (never whole in memory)
and its header is checked (`dicom.services.store.check_received`); `store.store_batch` then
indexes up to ``BATCH`` parts at a time in one transaction and decides which are kept.
Where instances go: query parameter ``destination`` (a path such as ``/WP2/Incoming``) or
``destination_id``; by default the "DICOM" folder of the user's personal collection.
"""

from __future__ import annotations

import errno
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound, PermissionDenied, ServiceError
from sinfonia.dicom import readers
from sinfonia.dicom.dicomweb import multipart
from sinfonia.dicom.dicomweb.common import (
    HttpProblem,
    bad_request,
    endpoint,
    instance_urls,
    json_response,
    parse_media_type,
    service_root,
    url,
)
from sinfonia.dicom.dicomweb.qido import element
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.services import store
from sinfonia.dicom.services.ingest import Received
from sinfonia.resources.models import Node
from sinfonia.storage import blobstore

log = logging.getLogger("sinfonia.dicomweb")

# Failure Reason (0008,1197) values: PS3.18 Table I.2-2, plus two DIMSE status codes of PS3.7
# Annex C that the table allows as "additional codes" (0x0111 Duplicate SOP Instance, 0x0124
# Refused: Not authorized); listed in docs/dicom-conformance.md.
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NOT_AUTHORIZED = 0x0124
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900  # the Study Instance UID differs from the target study's
CANNOT_UNDERSTAND = 0xC000


def failure_reason(exc: BaseException) -> int:
    """The Failure Reason of one refused instance."""
    if isinstance(exc, ServiceError):
        if exc.code == DicomError.STUDY_MISMATCH:
            return DOES_NOT_MATCH
        if exc.code == DicomError.DUPLICATE_INSTANCE:
            return DUPLICATE_SOP_INSTANCE
        if isinstance(exc, PermissionDenied | NotFound):
            return NOT_AUTHORIZED
        if isinstance(exc, Invalid):
            return CANNOT_UNDERSTAND
        return PROCESSING_FAILURE
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM):
        return OUT_OF_RESOURCES
    if isinstance(exc, MemoryError):
        return OUT_OF_RESOURCES
    if isinstance(exc, multipart.MultipartError):
        return CANNOT_UNDERSTAND
    return PROCESSING_FAILURE


@dataclass
class Outcome:
    stored: list[store.Stored]
    failed: list[tuple[str, str, int, str]]  # SOP Class UID, SOP Instance UID, reason, text

    @property
    def total(self) -> int:
        return len(self.stored) + len(self.failed)


def _parse_request(request: HttpRequest) -> str:
    """The boundary of a STOW-RS body; 415 for other media types (PS3.18 §10.5.3.1)."""
    media = parse_media_type(request.content_type or "")
    full = parse_media_type(request.META.get("CONTENT_TYPE", ""))
    if media.type != "multipart/related":
        raise HttpProblem(
            415, "unsupported_media_type", 'Send multipart/related; type="application/dicom".'
        )
    part_type = full.params.get("type", "application/dicom").lower()
    if part_type != "application/dicom":
        raise HttpProblem(
            415,
            "unsupported_media_type",
            f"Parts of type {part_type} (metadata and bulk data) are not supported; send "
            "application/dicom instances.",
        )
    boundary = full.params.get("boundary", "")
    if not boundary:
        raise bad_request("The Content-Type has no boundary parameter.")
    return boundary


def _destination(request: HttpRequest, actor: Actor) -> Node:
    path = request.GET.get("destination") or None
    raw_id = request.GET.get("destination_id") or None
    if raw_id is not None and not raw_id.isdigit():
        raise bad_request(f"destination_id is a number, not {raw_id!r}.")
    return store.destination(actor, path=path, node_id=int(raw_id) if raw_id else None)


PREAMBLE = b"\0" * 128 + b"DICM"


def part10(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A part's bytes as a DICOM file (PS3.10 §7.1): a file whose preamble and "DICM" prefix are
    missing but whose File Meta Information (group 0002) is there, as pydicom writes a data set
    made in memory, gets them, so that it is stored, and later sent, as a proper Part 10 file."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= len(PREAMBLE):
            break
    if head[128:132] != b"DICM" and head[:2] == b"\x02\x00":
        yield PREAMBLE
    if head:
        yield head
    yield from chunks


# Instances indexed together, in one transaction (`store.store_batch`): received parts wait
# in temporary files until this many (or this many bytes) are there, then are made durable
# together (`blobstore.settle_all`), their headers checked, and the batch indexed.
BATCH = 100
BATCH_BYTES = 256 * 1024 * 1024
# Parts up to SMALL bytes are also kept in memory until their batch is indexed, so that their
# header is read from there rather than from the file again; at most HELD bytes of them.
SMALL = 1024 * 1024
HELD = 32 * 1024 * 1024


def _failure(exc: BaseException, uids: tuple[str, str] | None = None) -> tuple[str, str, int, str]:
    """The failed-instance entry of one refused part (SOP Class and Instance UID as far as
    known, Failure Reason, text)."""
    reason = failure_reason(exc)
    if reason == PROCESSING_FAILURE:
        log.error("STOW-RS: storing a part failed", exc_info=exc)
    details = exc.details if isinstance(exc, ServiceError) else {}
    sop_class, sop_instance = uids or (
        str(details.get("sop_class_uid", "")),
        str(details.get("sop_instance_uid", "")),
    )
    text = exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
    return sop_class, sop_instance, reason, text


def _small(chunks: Iterator[bytes]) -> tuple[bytes | None, Iterator[bytes]]:
    """A part's bytes when there are at most SMALL of them: (bytes, nothing left); else
    (None, every chunk, the ones already read first)."""
    head: list[bytes] = []
    size = 0
    for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size > SMALL:
            return None, itertools.chain(head, chunks)
    return b"".join(head), iter(())


@dataclass(frozen=True, slots=True)
class _Pending:
    """A received part: its bytes in a temporary file and, when small, in memory, with its
    header being read meanwhile (`dicom.readers`)."""

    written: blobstore.Unsynced
    data: bytes | None
    reading: readers.Reading | None


def _receive(
    actor: Actor, parent: Node, parts: Iterator[multipart.InPart], study: str | None
) -> Outcome:
    """Each part streams into a temporary file as it arrives; every ``BATCH`` parts, the
    files are made durable and moved into the blob store together, their headers are checked
    and the batch is indexed in one transaction."""
    outcome = Outcome(stored=[], failed=[])
    batch: list[_Pending] = []
    size = held = 0
    readings = readers.Batch()

    def flush() -> None:
        nonlocal size, held, readings
        pending = batch[:]
        batch.clear()
        size = held = 0
        readings.send()  # the last headers: read while the batch is made durable
        readings = readers.Batch()  # the next batch's
        try:
            stored = blobstore.settle_all([part.written for part in pending])
        except Exception as exc:
            outcome.failed.extend(_failure(exc) for _ in pending)
            return
        items: list[Received] = []
        for part, bytes_stored in zip(pending, stored, strict=True):
            try:
                items.append(
                    store.check_received(
                        bytes_stored, data=part.data, reading=part.reading, study_instance_uid=study
                    )
                )
            except Exception as exc:
                outcome.failed.append(_failure(exc))
        if not items:
            return
        try:
            results = store.store_batch(actor, parent, items)
        except Exception as exc:
            outcome.failed.extend(_failure(exc, store.uids_of(item.header)) for item in items)
            return
        for result in results:
            if isinstance(result, Exception):
                outcome.failed.append(_failure(result))
            else:
                outcome.stored.append(result)

    try:
        while True:
            try:
                part = next(parts)
                media = parse_media_type(part.content_type or "application/dicom")
                if media.type != "application/dicom":
                    for _ in part.chunks:
                        pass
                    raise Invalid(
                        DicomError.NOT_DICOM, f"A part of type {media.type} is no instance."
                    )
                data, chunks = _small(part10(part.chunks))
                written = blobstore.write_unsynced([data] if data is not None else chunks)
                reading = readings.submit(data) if data is not None else None
                batch.append(_Pending(written, data, reading))
                size += written.stored.size
                held += len(data) if data is not None else 0
                if len(batch) >= BATCH or size >= BATCH_BYTES or held >= HELD:
                    flush()
            except StopIteration:
                flush()
                return outcome
            except Exception as exc:
                broken = isinstance(exc, multipart.MultipartError)
                if broken and not outcome.total and not batch:
                    raise  # not a multipart body at all: the request is bad (400)
                outcome.failed.append(_failure(exc))
                if broken:
                    flush()
                    return outcome  # the rest of the body cannot be read
    finally:
        for left in batch:  # left unindexed by an error that ends the request
            left.written.path.unlink(missing_ok=True)


def _response(request: HttpRequest, outcome: Outcome, study: str | None) -> HttpResponse:
    """The Store Instances Response Module (PS3.18 Annex I) and its status (§10.5.3.1): 200 all
    stored, 202 some, 409 none."""
    body: dict[str, Any] = {}
    studies = {s.study_instance_uid for s in outcome.stored}
    study_url = study or (next(iter(studies)) if len(studies) == 1 else None)
    body.update([element("RetrieveURL", url(request, "study", study_url) if study_url else None)])
    if outcome.stored:
        items = []
        instance_url = instance_urls(request)
        for s in outcome.stored:
            item = dict(
                [
                    element("ReferencedSOPClassUID", s.sop_class_uid),
                    element("ReferencedSOPInstanceUID", s.sop_instance_uid),
                    element(
                        "RetrieveURL",
                        instance_url(
                            s.study_instance_uid, s.series_instance_uid, s.sop_instance_uid
                        ),
                    ),
                ]
            )
            items.append(item)
        body["00081199"] = {"vr": "SQ", "Value": items}
    failed = [f for f in outcome.failed if f[1]]
    others = [f for f in outcome.failed if not f[1]]
    if failed:
        body["00081198"] = {
            "vr": "SQ",
            "Value": [
                dict(
                    [
                        element("ReferencedSOPClassUID", sop_class or None),
                        element("ReferencedSOPInstanceUID", sop_instance),
                        element("FailureReason", reason, "US"),
                    ]
                )
                for sop_class, sop_instance, reason, _ in failed
            ],
        }
    if others:  # parts that are not readable instances (PS3.18 Table I.1-1)
        body["0008119A"] = {
            "vr": "SQ",
            "Value": [dict([element("FailureReason", r, "US")]) for _, _, r, _ in others],
        }
    status = 200 if not outcome.failed else 202 if outcome.stored else 409
    response = json_response(dict(sorted(body.items())), status=status)
    if outcome.failed:
        reasons = sorted({f"{r:04X}" for _, _, r, _ in outcome.failed})
        detail = "; ".join(dict.fromkeys(text for *_, text in outcome.failed))[:500]
        detail = detail.encode("ascii", "replace").decode("ascii").replace('"', "'")
        response["Warning"] = (
            f'299 {service_root(request)} "{len(outcome.failed)} of {outcome.total} '
            f'instance(s) not stored (failure reason {", ".join(reasons)}): {detail}"'
        )
    return response


@endpoint("POST")
def store_instances(request: HttpRequest, actor: Actor, study: str | None = None) -> HttpResponse:
    boundary = _parse_request(request)
    parent = _destination(request, actor)
    try:
        reader = multipart.Reader(request.read, boundary)
        parts = reader.parts()
        outcome = _receive(actor, parent, parts, study)
    except multipart.MultipartError as exc:
        raise bad_request(str(exc)) from exc
    if not outcome.total:
        raise bad_request("The body holds no instances.")
    return _response(request, outcome, study)
