"""Auto-organisation: DICOM filed into Patient / Study / Series folders and filesets with
readable names (reference report §6: "organise DICOM files automatically after upload
according to the DICOM Model of the Real World")."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from django.db import DatabaseError, transaction

from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, ServiceError
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


def _cached(parent: Node, uids: list[str], organise: bool) -> dict[str, Node]:
    """The recently used series filesets of ``uids`` (`_RECENT`) that are still there, not
    deleted and still below ``parent`` (one may have been moved away): one query."""
    ids = {
        cached: uid
        for uid in uids
        if (cached := _RECENT.get((parent.id, uid, organise))) is not None
    }
    if not ids:
        return {}
    found = Node.objects.filter(
        pk__in=ids, kind=Kind.FILESET, in_trash=False, ancestry__startswith=parent.subtree_prefix
    )
    out = {}
    for node in found:
        out[ids[node.id]] = node
        _RECENT.move_to_end((parent.id, ids[node.id], organise))
    return out


def _remember(parent: Node, uid: str, organise: bool, fileset: Node) -> None:
    _RECENT[(parent.id, uid, organise)] = fileset.id
    if len(_RECENT) > _RECENT_SIZE:
        _RECENT.popitem(last=False)


def _file_one(
    actor: Actor, parent: Node, names: tuple[str, str, str], organise: bool, known: Known
) -> Node:
    """The series fileset of one series, child by child (safe against racing twins)."""
    patient, study, series = names
    here = parent
    if organise:
        patient_folder = _child(actor, here, Kind.FOLDER, patient, known)
        here = _child(actor, patient_folder, Kind.FOLDER, study, known)
    return _child(actor, here, Kind.FILESET, series)


def _file_all(
    actor: Actor, parent: Node, names: dict[str, tuple[str, str, str]], organise: bool
) -> dict[str, Node]:
    """The series filesets of all ``names`` (Series Instance UID -> names), level by level
    in a few queries (`tree.find_or_create_children`); all or nothing."""
    with transaction.atomic():
        if not organise:
            made = tree.find_or_create_children(
                actor, [(parent, Kind.FILESET, series) for _, _, series in names.values()]
            )
            return {uid: made[(parent.id, series)] for uid, (_, _, series) in names.items()}
        patients = tree.find_or_create_children(
            actor, [(parent, Kind.FOLDER, patient) for patient, _, _ in names.values()]
        )
        patient_of = {uid: patients[(parent.id, p)] for uid, (p, _, _) in names.items()}
        studies = tree.find_or_create_children(
            actor, [(patient_of[uid], Kind.FOLDER, study) for uid, (_, study, _) in names.items()]
        )
        study_of = {uid: studies[(patient_of[uid].id, s)] for uid, (_, s, _) in names.items()}
        filesets = tree.find_or_create_children(
            actor, [(study_of[uid], Kind.FILESET, se) for uid, (_, _, se) in names.items()]
        )
        return {uid: filesets[(study_of[uid].id, se)] for uid, (_, _, se) in names.items()}


def series_filesets(
    actor: Actor, parent: Node, headers: list[Header], *, organise: bool
) -> dict[str, Node | ServiceError]:
    """Where received instances go, by Series Instance UID: ``parent`` itself when it is a
    fileset; else each series' fileset, below Patient/Study folders when ``organise``, found
    or created. A series that cannot be filed (a name held by a file, no write access) gets
    the error instead; the others are filed all the same."""
    if parent.kind == Kind.FILESET:
        return {h.series_instance_uid: parent for h in headers}
    names: dict[str, tuple[str, str, str]] = {}
    for header in headers:
        if header.series_instance_uid not in names:
            values = {k: header.text(k, 1024) for k in _NAMING_KEYS}
            names[header.series_instance_uid] = names_for(values)
    out: dict[str, Node | ServiceError] = {}
    out.update(_cached(parent, list(names), organise))
    todo = {uid: n for uid, n in names.items() if uid not in out}
    if not todo:
        return out
    try:
        filed = _file_all(actor, parent, todo, organise)
    except (ServiceError, DatabaseError):  # an exception to the rule, a racing twin: one by one
        known: Known = {}
        for uid, series_names in todo.items():
            try:
                fileset = _file_one(actor, parent, series_names, organise, known)
            except ServiceError as exc:
                out[uid] = exc
            else:
                _remember(parent, uid, organise, fileset)
                out[uid] = fileset
        return out
    for uid, fileset in filed.items():
        _remember(parent, uid, organise, fileset)
        out[uid] = fileset
    return out


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
