"""Instances received over the network whose bytes a transport has already streamed into the
blob store (STOW-RS): where they go, what is refused, then the one DICOM ingest path
(`ingest_instances`, in batches: one transaction per batch).

Rules:
- The destination is a folder, collection or fileset the actor may write; by default the
  "DICOM" folder of the actor's personal collection, created on first need.
- A part must be a complete DICOM Part 10 file (PS3.10 §7) with Study, Series and SOP
  Instance UIDs; with a target study (``POST /studies/{study}``) its Study Instance UID must
  match (PS3.18 §10.5.1.1.1: "each representation shall have the same Study Instance UID").
- Sending an instance again (same bytes, same place) is a success that stores nothing new; the
  same SOP Instance UID with other bytes at the same place is refused as a duplicate.
- Bytes of a refused instance are removed from the store again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pydicom

from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, ServiceError
from sinfonia.dicom import readers
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.header import Header, Unreadable, read
from sinfonia.dicom.services.ingest import (
    Ingested,
    Received,
    default_destination,
    ingest_instances,
)
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.selectors import get_node, lookup
from sinfonia.storage import blobstore
from sinfonia.storage.services import discard_unclaimed

RECEIVING = (Kind.COLLECTION, Kind.FOLDER, Kind.FILESET)


def destination(actor: Actor, *, path: str | None = None, node_id: int | None = None) -> Node:
    """Where received instances go: the node at ``path`` or with ``node_id``, else the default.

    Errors: NotFound (missing or not readable), PermissionDenied (no write access), Invalid
    (both given, or a file).
    """
    if path and node_id is not None:
        raise Invalid(ResourceError.WRONG_DESTINATION, "Give a destination path or id, not both.")
    if path:
        node = lookup(actor, path)
    elif node_id is not None:
        node = get_node(actor, node_id, Level.READ)
    else:
        return default_destination(actor)
    access.require(actor, Level.WRITE, node)
    if node.kind not in RECEIVING:
        raise Invalid(
            ResourceError.NOT_A_CONTAINER,
            f"{node.name!r} is a {node.kind_name}; store into a folder or fileset.",
        )
    return node


@dataclass(frozen=True, slots=True)
class Stored:
    node: Node
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    already_there: bool


def read_uids(stored: blobstore.StoredBytes) -> tuple[str, str]:
    """(SOP Class UID, SOP Instance UID) of stored bytes as far as they can be read ("" where
    not): for reporting a refused instance."""
    try:
        ds = pydicom.dcmread(
            blobstore.blob_path(stored.sha256),
            stop_before_pixels=True,
            force=True,
            specific_tags=["SOPClassUID", "SOPInstanceUID"],
        )
        return str(ds.get("SOPClassUID", "") or ""), str(ds.get("SOPInstanceUID", "") or "")
    except Exception:  # unreadable is what the caller already knows
        return "", ""


def _header(
    stored: blobstore.StoredBytes, data: bytes | None, reading: readers.Reading | None
) -> Header:
    """The parsed header; Invalid(CORRUPT) unless the bytes are a complete Part 10 file."""
    try:
        if reading is not None:
            return reading.header()
        if data is not None:
            return read(io.BytesIO(data))
        with open(blobstore.blob_path(stored.sha256), "rb") as fh:
            return read(fh)
    except Unreadable as exc:
        raise Invalid(DicomError.CORRUPT, str(exc)) from exc


def _refused(exc: BaseException, stored: blobstore.StoredBytes, header: Header | None) -> None:
    """Name the instance in a refusal's details as far as it can be read; drop its bytes."""
    if isinstance(exc, ServiceError):
        if header is not None:
            sop_class_uid, sop_instance_uid = uids_of(header)
        else:
            sop_class_uid, sop_instance_uid = read_uids(stored)
        exc.details.setdefault("sop_class_uid", sop_class_uid)
        exc.details.setdefault("sop_instance_uid", sop_instance_uid)
    discard_unclaimed(stored.sha256)


def check_received(
    stored: blobstore.StoredBytes,
    *,
    data: bytes | None = None,
    reading: readers.Reading | None = None,
    study_instance_uid: str | None = None,
) -> Received:
    """Read and check the header of bytes a transport streamed into the blob store, ready for
    `store_batch`; ``data``: those bytes, when the transport still has them in memory (then
    the stored file is not read again); ``reading``: their header, already being read in a
    helper (`dicom.readers.Batch.submit`). The bytes are discarded again when they are refused.

    Errors: Invalid (CORRUPT, MISSING_UID, STUDY_MISMATCH); their ``details`` name the
    ``sop_class_uid`` and ``sop_instance_uid`` as far as they could be read.
    """
    header: Header | None = None
    try:
        header = _header(stored, data, reading)
        study = header.study_instance_uid
        if not (all(uids_of(header)) and study and header.series_instance_uid):
            raise Invalid(
                DicomError.MISSING_UID,
                "The instance lacks a SOP Class, SOP Instance, Study or Series Instance UID.",
            )
        if study_instance_uid is not None and study != study_instance_uid:
            raise Invalid(
                DicomError.STUDY_MISMATCH,
                f"The instance belongs to study {study}, not to {study_instance_uid}.",
            )
    except BaseException as exc:
        _refused(exc, stored, header)
        raise
    return Received(header=header, stored=stored)


def uids_of(header: Header) -> tuple[str, str]:
    """(SOP Class UID, SOP Instance UID) of a parsed header, "" where missing."""
    return header.sop_class_uid, header.sop_instance_uid


def _stored(item: Received, ingested: Ingested) -> Stored:
    header = item.header
    return Stored(
        node=ingested.node,
        sop_class_uid=header.sop_class_uid,
        sop_instance_uid=header.sop_instance_uid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        already_there=ingested.already_there,
    )


def store_batch(actor: Actor, parent: Node, items: list[Received]) -> list[Stored | Exception]:
    """Index checked instances (`check_received`) below ``parent``, filed into Patient / Study
    / Series folders, through `ingest_instances` (one transaction for the batch): per instance
    what was stored, or the exception that refused it (its bytes discarded again).

    Refusals: Conflict (DUPLICATE_INSTANCE, or a name clash), NotFound / PermissionDenied (no
    write access where it would be filed), Invalid; ``details`` name the instance's UIDs.
    """
    try:
        results = ingest_instances(actor, parent, items, organise=True)
    except BaseException as exc:
        for item in items:
            _refused(exc, item.stored, item.header)
        raise
    out: list[Stored | Exception] = []
    for item, result in zip(items, results, strict=True):
        if isinstance(result, Exception):
            _refused(result, item.stored, item.header)
            out.append(result)
        else:
            out.append(_stored(item, result))
    return out


def store_received(
    actor: Actor,
    parent: Node,
    stored: blobstore.StoredBytes,
    *,
    study_instance_uid: str | None = None,
) -> Stored:
    """Index bytes already in the blob store as a DICOM instance below ``parent``: one
    instance through `check_received` and `store_batch`. The bytes are discarded again when
    this fails.

    Errors: as `check_received` and `store_batch`.
    """
    (result,) = store_batch(
        actor, parent, [check_received(stored, study_instance_uid=study_instance_uid)]
    )
    if isinstance(result, Exception):
        raise result
    return result
