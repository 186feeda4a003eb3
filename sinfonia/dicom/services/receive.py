"""Receiving instances from a remote AE (DIMSE C-STORE): where they go, and how a repeated
send of the same instance is answered. Storing itself is `ingest_instance`, the one DICOM
ingest path."""

from __future__ import annotations

from pydicom.dataset import Dataset

from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.models import RemoteAE
from sinfonia.dicom.services.ingest import default_destination, ingest_instance
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Level, Node

REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def storage_folder(actor: Actor, remote: RemoteAE) -> Node:
    """Where C-STORE from ``remote`` lands: its configured destination, else the default
    "DICOM" folder of the mapped user's personal collection.

    Errors: NotFound/PermissionDenied when the user may not write there (any more).
    """
    if remote.destination_id is None:
        folder = default_destination(actor)
    else:
        # Read again: the association may have started before the folder was deleted.
        found = Node.objects.filter(pk=remote.destination_id).first()
        if found is None:
            raise NotFound(ResourceError.NOT_FOUND, "The configured destination is gone.")
        folder = found
    access.require(actor, Level.WRITE, folder)
    return folder


def receive_instance(actor: Actor, remote: RemoteAE, ds: Dataset, data: bytes) -> Node:
    """Store one instance received from ``remote`` (``data``: its Part 10 encoding) through
    `ingest_instance`; a resend of the same instance is accepted without a second copy.

    Errors: Invalid (identifying UIDs missing), NotFound/PermissionDenied (destination not
    writable), Conflict (a different instance under that SOP Instance UID is there already).
    """
    missing = [k for k in REQUIRED_UIDS if not str(ds.get(k) or "").strip()]
    if missing:
        raise Invalid(DicomError.MISSING_UID, f"The data set lacks {', '.join(missing)}.")
    folder = storage_folder(actor, remote)  # checked before any byte is stored
    return ingest_instance(actor, folder, ds, data=data, organise=remote.organise).node
