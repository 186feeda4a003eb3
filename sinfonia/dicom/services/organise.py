"""Auto-organisation: DICOM filed into Patient / Study / Series folders and filesets with
readable names (reference report §6: "organise DICOM files automatically after upload
according to the DICOM Model of the Real World")."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid
from sinfonia.core.names import clean_name
from sinfonia.dicom.header import Header
from sinfonia.dicom.models import Instance
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import CONTAINERS, Kind, Node
from sinfonia.resources.services import copymove, tree

_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]+")


def _name(text: str, fallback: str) -> str:
    cleaned = " ".join(_UNSAFE.sub(" ", text).split())[:120]
    try:
        return clean_name(cleaned) if cleaned else fallback
    except Invalid:
        return fallback


def names_for(values: dict[str, Any]) -> tuple[str, str, str]:
    """(patient folder, study folder, series fileset) names from header values."""
    patient = _name(str(values.get("PatientID") or ""), "Unknown patient")
    date = str(values.get("StudyDate") or "")
    study_text = " ".join(p for p in (date, str(values.get("StudyDescription") or "")) if p)
    study = _name(study_text, _name(str(values.get("StudyInstanceUID") or ""), "Unknown study"))
    number = values.get("SeriesNumber")
    series_text = " ".join(
        p
        for p in (
            f"{int(str(number)):03d}" if str(number or "").strip().lstrip("-").isdigit() else "",
            str(values.get("Modality") or ""),
            str(values.get("SeriesDescription") or ""),
        )
        if p
    )
    series = _name(series_text, _name(str(values.get("SeriesInstanceUID") or ""), "Series"))
    return patient, study, series


Known = dict[tuple[int, str], Node]  # (parent id, name) -> a child found or made just now


def _child(actor: Actor, parent: Node, kind: Kind, name: str, known: Known | None = None) -> Node:
    """The child of that name and kind, created when missing (safe against a racing twin);
    ``known``: children a caller found or made moments ago (one batch of instances), looked up
    there first and added to."""
    if known is not None:
        child = known.get((parent.id, name))
        if child is None:
            child = known[(parent.id, name)] = _child(actor, parent, kind, name)
        elif child.kind != kind:
            raise Conflict(
                ResourceError.NAME_TAKEN,
                f"{name!r} exists in {parent.name!r} and is a {child.kind_name}.",
            )
        return child
    for _ in range(3):
        existing = Node.objects.filter(parent=parent, name=name, in_trash=False).first()
        if existing is not None:
            if existing.kind != kind:
                raise Conflict(
                    ResourceError.NAME_TAKEN,
                    f"{name!r} exists in {parent.name!r} and is a {existing.kind_name}.",
                )
            return existing
        try:
            if kind == Kind.FOLDER:
                return tree.create_folder(actor, parent, name)
            return tree.create_fileset(actor, parent, name)
        except Conflict:
            continue  # created meanwhile by a concurrent association: look again
    raise Conflict(ResourceError.NAME_TAKEN, f"Could not create {name!r}.")


_NAMING_KEYS = (
    "PatientID",
    "StudyDate",
    "StudyDescription",
    "StudyInstanceUID",
    "SeriesNumber",
    "Modality",
    "SeriesDescription",
    "SeriesInstanceUID",
)


# (parent id, Series Instance UID, organise) -> fileset id, for the instances of a series that
# arrive one after another. Always re-checked against the database before use (one query).
_RECENT: OrderedDict[tuple[int, str, bool], int] = OrderedDict()
_RECENT_SIZE = 512


def series_fileset(
    actor: Actor, parent: Node, header: Header, *, organise: bool, known: Known | None = None
) -> Node:
    """Where a received instance goes: ``parent`` itself when it is a fileset; else the
    series fileset, below Patient/Study folders when ``organise``. ``known``: the folders a
    caller filing a batch of instances has met so far (see `_child`)."""
    if parent.kind == Kind.FILESET:
        return parent
    key = (parent.id, header.series_instance_uid, organise)
    if (cached := _RECENT.get(key)) is not None:
        # Still there, not deleted, still below ``parent`` (it may have been moved away).
        found = Node.objects.filter(
            pk=cached, kind=Kind.FILESET, in_trash=False, ancestry__startswith=parent.subtree_prefix
        ).first()
        if found is not None:
            _RECENT.move_to_end(key)
            return found
    patient, study, series = names_for({k: header.text(k, 1024) for k in _NAMING_KEYS})
    here = parent
    if organise:
        patient_folder = _child(actor, here, Kind.FOLDER, patient, known)
        here = _child(actor, patient_folder, Kind.FOLDER, study, known)
    fileset = _child(actor, here, Kind.FILESET, series)
    _RECENT[key] = fileset.id
    if len(_RECENT) > _RECENT_SIZE:
        _RECENT.popitem(last=False)
    return fileset


def organise_file(actor: Actor, node: Node, root: Node) -> Node:
    """Move an indexed DICOM file into root/Patient/Study/Series; drop the fileset it leaves
    empty if that was made just to hold it (an upload into a folder)."""
    if root.kind not in CONTAINERS:
        raise Invalid(ResourceError.NOT_A_CONTAINER, "Organise into a folder.")
    instance = Instance.objects.select_related("series__study__patient").get(file=node)
    series = instance.series
    study = series.study
    values = {
        "PatientID": study.patient.patient_id,
        "StudyDate": study.study_date,
        "StudyDescription": study.study_description,
        "StudyInstanceUID": study.study_instance_uid,
        "SeriesNumber": series.series_number,
        "Modality": series.modality,
        "SeriesDescription": series.series_description,
        "SeriesInstanceUID": series.series_instance_uid,
    }
    patient, study_name, series_name = names_for(values)
    folder = _child(actor, _child(actor, root, Kind.FOLDER, patient), Kind.FOLDER, study_name)
    fileset = _child(actor, folder, Kind.FILESET, series_name)
    old_parent = node.parent
    if old_parent is not None and old_parent.id == fileset.id:
        return fileset
    copymove.move_nodes(actor, [node], fileset)
    if (
        old_parent is not None
        and old_parent.kind == Kind.FILESET
        and old_parent.name == node.name
        and not Node.objects.filter(parent=old_parent).exists()
    ):
        old_parent.delete()  # the empty wrapper an upload into a folder created
    return fileset
