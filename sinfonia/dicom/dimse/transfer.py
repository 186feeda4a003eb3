"""C-STORE sub-operations of C-GET and C-MOVE: which presentation contexts to propose, and in
which transfer syntax each instance goes.

Instances are sent as stored when the peer accepted their transfer syntax (compressed data is
never recompressed). An uncompressed instance may go in any uncompressed syntax the peer
accepted (pynetdicom re-encodes). A compressed instance whose syntax the peer did not accept
is decompressed when a decoder is installed and the peer accepted an uncompressed syntax;
otherwise its sub-operation fails and is counted as failed (final status 0xB000).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext, build_context

from sinfonia.core.context import Actor
from sinfonia.dicom import selectors
from sinfonia.dicom.dimse.association import no_delay
from sinfonia.dicom.dimse.identifiers import VERIFICATION
from sinfonia.dicom.models import Instance

log = logging.getLogger("sinfonia.dimse")

UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
MAX_CONTEXTS = 128  # PS3.8 §9.3.2.2: presentation context IDs are odd numbers 1-255


def contexts_for(instances: Iterable[Instance]) -> list[PresentationContext]:
    """Contexts to propose for sending ``instances`` (C-MOVE): per SOP class one with the
    uncompressed syntaxes, plus one per compressed syntax stored, within the 128 allowed."""
    classes: dict[str, set[str]] = {}
    for inst in instances:
        if inst.sop_class_uid:
            classes.setdefault(inst.sop_class_uid, set()).add(inst.transfer_syntax_uid)
    plain = [build_context(sop, list(UNCOMPRESSED)) for sop in sorted(classes)]
    special = [
        build_context(sop, ts)
        for sop, syntaxes in sorted(classes.items())
        for ts in sorted(syntaxes)
        if ts and ts not in UNCOMPRESSED and UID(ts).is_transfer_syntax
    ]
    contexts = plain[:MAX_CONTEXTS] + special[: max(MAX_CONTEXTS - len(plain), 0)]
    return contexts or [build_context(VERIFICATION)]


class SubAssociation:
    """Captures the association pynetdicom opens to a C-MOVE destination (EVT_ESTABLISHED),
    so that the handler knows which transfer syntaxes the destination accepted."""

    def __init__(self) -> None:
        self.assoc: Association | None = None

    def capture(self, event: Event) -> None:
        self.assoc = event.assoc
        no_delay(event.assoc)


def _accepted(assoc: Association | None, sop_class_uid: str) -> set[str]:
    if assoc is None:
        return set()
    return {
        str(cx.transfer_syntax[0])
        for cx in assoc.accepted_contexts
        if cx.abstract_syntax == sop_class_uid and cx.as_scu
    }


def fit(ds: Dataset, assoc: Association | None) -> Dataset:
    """``ds`` ready to send over ``assoc`` (decompressed when that is the only way)."""
    ts = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    accepted = _accepted(assoc, str(ds.get("SOPClassUID", "")))
    if not accepted or ts in accepted or not ts.is_compressed:
        return ds
    if not any(UID(a) in UNCOMPRESSED for a in accepted):
        return ds
    try:
        ds.decompress(generate_instance_uid=False)  # the same instance, re-encoded
    except Exception as exc:  # no decoder for this syntax: the sub-operation fails
        log.warning("cannot decompress %s (%s) for sending: %s", ds.get("SOPInstanceUID"), ts, exc)
    return ds


def read(actor: Actor, instance: Instance) -> Dataset:
    """The instance's data set for a sub-operation (an audited read, as a download is).

    When the file cannot be read, a data set holding only the SOP Instance UID stands in:
    pynetdicom then fails that one C-STORE sub-operation and lists the UID in the response's
    Failed SOP Instance UID List (PS3.4 C.4.2.1.4), and the others go on.
    """
    try:
        return selectors.dataset(actor, instance.file, pixels=True, purpose="retrieve")
    except Exception as exc:
        log.warning("instance %s not sent: %s", instance.sop_instance_uid, exc)
        stand_in = Dataset()
        stand_in.SOPInstanceUID = instance.sop_instance_uid
        return stand_in
