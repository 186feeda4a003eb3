"""Indexing DICOM files: the one path every transport's DICOM takes (STYLE: `ingest_instance`).

- Transports that receive DICOM natively (STOW-RS, C-STORE) call `ingest_instance`: the bytes
  are stored, registered as a File through `register_file`, and indexed from the dataset they
  already parsed, in one go.
- Every other path (portal, REST, tus, SFTP, `sinfonia import`, ZIP extraction) registers files
  normally; `register_file` calls `queue_file`, and the background indexer (`index_pending`,
  run by the worker inside ``sinfonia serve``) reads the header and indexes it.

Files that are not DICOM stay ordinary files; unreadable DICOM is kept and flagged with the
parse error. A SOP Instance UID seen in another file is reported: a copy (same bytes) or a
conflict (different bytes).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydicom
from django.db import IntegrityError, transaction
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian

from sinfonia.accounts.models import User
from sinfonia.core import bulk
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, ServiceError
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.header import Header
from sinfonia.dicom.models import IndexState, Instance, Patient, Series, State, Study
from sinfonia.resources.models import Kind, Node
from sinfonia.storage import blobstore
from sinfonia.transfers.services import operations

log = logging.getLogger("sinfonia.dicom")
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
PROBE_SUFFIXES = (".dcm", ".dicom", ".ima", ".img", "")


def queue_file(node: Node, *, organise_into: Node | None = None, user: User | None = None) -> None:
    """Mark a newly registered file for the background indexer (cheap; no file is read)."""
    IndexState.objects.update_or_create(
        file=node,
        defaults={
            "state": State.PENDING,
            "error": "",
            "detail": {},
            "organise_into": organise_into,
            "requested_by": user,
        },
    )
    transaction.on_commit(operations.wake)


def _slice_position(header: Header) -> float | None:
    """Position along the slice normal (PS3.3 C.7.6.2.1.1): orders a series spatially."""
    ipp = header.floats("ImagePositionPatient")
    iop = header.floats("ImageOrientationPatient")
    if not ipp or not iop or len(ipp) < 3 or len(iop) < 6:
        return None
    row, col = iop[:3], iop[3:6]
    normal = (
        row[1] * col[2] - row[2] * col[1],
        row[2] * col[0] - row[0] * col[2],
        row[0] * col[1] - row[1] * col[0],
    )
    return sum(p * n for p, n in zip(ipp[:3], normal, strict=True))


@dataclass(frozen=True, slots=True)
class Indexed:
    instance: Instance
    duplicates: list[int]
    conflict: bool


# (column, attribute, longest text) of the Patient, Study and Series rows; None: a number.
PATIENT_COLUMNS = (
    ("patient_name", "PatientName", 324),
    ("birth_date", "PatientBirthDate", 8),
    ("sex", "PatientSex", 16),
)
STUDY_COLUMNS = (
    ("study_date", "StudyDate", 8),
    ("study_time", "StudyTime", 16),
    ("accession_number", "AccessionNumber", 16),
    ("study_id", "StudyID", 16),
    ("study_description", "StudyDescription", 64),
    ("referring_physician_name", "ReferringPhysicianName", 324),
)
SERIES_COLUMNS = (
    ("modality", "Modality", 16),
    ("series_number", "SeriesNumber", None),
    ("series_description", "SeriesDescription", 64),
    ("body_part_examined", "BodyPartExamined", 16),
    ("series_date", "SeriesDate", 8),
)


def _columns(header: Header, columns: tuple[tuple[str, str, int | None], ...]) -> dict[str, Any]:
    return {
        column: header.int(keyword) if limit is None else header.text(keyword, limit)
        for column, keyword, limit in columns
    }


def _patient_key(header: Header) -> tuple[str, str]:
    """(Patient ID, Issuer of Patient ID): what tells patients apart."""
    return header.text("PatientID", 64), header.text("IssuerOfPatientID", 64)


def _new_series(header: Header, study_uid: str, series_uid: str) -> Series:
    """The Series row of a series seen for the first time, with its Patient and Study rows."""
    patient_id, issuer = _patient_key(header)
    patient, _ = Patient.objects.get_or_create(
        patient_id=patient_id, issuer=issuer, defaults=_columns(header, PATIENT_COLUMNS)
    )
    study, _ = Study.objects.get_or_create(
        study_instance_uid=study_uid,
        defaults={"patient": patient, **_columns(header, STUDY_COLUMNS)},
    )
    series, _ = Series.objects.get_or_create(
        series_instance_uid=series_uid,
        defaults={"study": study, **_columns(header, SERIES_COLUMNS)},
    )
    return series


def instance_uids(header: Header) -> tuple[str, str, str]:
    """(Study, Series, SOP Instance UID); Invalid(MISSING_UID) unless all three are there."""
    study_uid, series_uid = header.study_instance_uid, header.series_instance_uid
    sop_uid = header.sop_instance_uid
    if not (study_uid and series_uid and sop_uid):
        raise Invalid(
            DicomError.MISSING_UID,
            "The DICOM header lacks Study, Series or SOP Instance UID; it is kept as a file.",
        )
    return study_uid, series_uid, sop_uid


def _instance_values(header: Header, series: Series, sop_uid: str) -> dict[str, Any]:
    return {
        "series_id": series.pk,
        "sop_instance_uid": sop_uid,
        "sop_class_uid": header.sop_class_uid,
        "instance_number": header.int("InstanceNumber"),
        "transfer_syntax_uid": header.transfer_syntax_uid,
        "rows": header.int("Rows"),
        "columns": header.int("Columns"),
        "number_of_frames": header.int("NumberOfFrames") or (1 if header.values("Rows") else None),
        "slice_position": _slice_position(header),
        "header": header.json,
    }


def index_dataset(node: Node, ds: Dataset) -> Indexed:
    """Create or refresh the index rows of ``node`` (a File) from its parsed header."""
    header = Header.of(ds)
    study_uid, series_uid, sop_uid = instance_uids(header)
    series = Series.objects.filter(series_instance_uid=series_uid).first()
    if series is None:  # the first instance of its series: create the rows above it
        series = _new_series(header, study_uid, series_uid)
    values = _instance_values(header, series, sop_uid)
    instance, _ = Instance.objects.update_or_create(file=node, defaults=values)
    others = Instance.objects.filter(sop_instance_uid=sop_uid).exclude(pk=instance.pk)
    dupes = list(others.values_list("file_id", "file__blob_id"))
    conflict = any(blob != node.blob_id for _, blob in dupes)
    return Indexed(instance=instance, duplicates=[f for f, _ in dupes], conflict=conflict)


def _create_series(firsts: dict[str, Header]) -> dict[str, Series]:
    """The Series rows of series seen for the first time (``firsts``: the first header of each,
    by Series Instance UID), with the Study and Patient rows above them found or created: the
    batch form of `_new_series`, a few queries for all. A row made meanwhile by a concurrent
    writer raises IntegrityError (the caller then indexes instance by instance)."""
    by_study: dict[str, Header] = {}
    for header in firsts.values():
        by_study.setdefault(header.study_instance_uid, header)
    studies = {
        s.study_instance_uid: s for s in Study.objects.filter(study_instance_uid__in=by_study)
    }
    new_studies = {uid: h for uid, h in by_study.items() if uid not in studies}
    if new_studies:
        keys = {_patient_key(h): h for h in new_studies.values()}
        patients = {
            (p.patient_id, p.issuer): p
            for p in Patient.objects.filter(patient_id__in={pid for pid, _ in keys})
            if (p.patient_id, p.issuer) in keys
        }
        made_patients = [
            Patient(patient_id=pid, issuer=issuer, **_columns(h, PATIENT_COLUMNS))
            for (pid, issuer), h in keys.items()
            if (pid, issuer) not in patients
        ]
        bulk.insert_returning_ids(made_patients)
        patients.update(((p.patient_id, p.issuer), p) for p in made_patients)
        made_studies = [
            Study(
                study_instance_uid=uid,
                patient=patients[_patient_key(h)],
                **_columns(h, STUDY_COLUMNS),
            )
            for uid, h in new_studies.items()
        ]
        bulk.insert_returning_ids(made_studies)
        studies.update((s.study_instance_uid, s) for s in made_studies)
    made = [
        Series(
            series_instance_uid=uid,
            study=studies[h.study_instance_uid],
            **_columns(h, SERIES_COLUMNS),
        )
        for uid, h in firsts.items()
    ]
    bulk.insert_returning_ids(made)
    return {s.series_instance_uid: s for s in made}


def _index_new(files: list[tuple[Node, Header]]) -> None:
    """Index freshly registered files (nothing to refresh) in bulk, with their IndexState:
    the batch form of `index_dataset` for `ingest_instances`."""
    uids = [instance_uids(header) for _, header in files]
    wanted = {series_uid for _, series_uid, _ in uids}
    series_by_uid = {
        s.series_instance_uid: s for s in Series.objects.filter(series_instance_uid__in=wanted)
    }
    firsts: dict[str, Header] = {}
    for (_, header), (_, series_uid, _) in zip(files, uids, strict=True):
        if series_uid not in series_by_uid:  # the first instances of their series
            firsts.setdefault(series_uid, header)
    if firsts:
        series_by_uid.update(_create_series(firsts))
    bulk.insert_values(
        Instance,
        [
            {"file_id": node.pk, **_instance_values(header, series_by_uid[series_uid], sop_uid)}
            for (node, header), (_, series_uid, sop_uid) in zip(files, uids, strict=True)
        ],
    )
    holders: dict[str, list[tuple[int, str | None]]] = {}
    sops = list({sop for *_, sop in uids})
    for start in range(0, len(sops), 500):
        rows = Instance.objects.filter(sop_instance_uid__in=sops[start : start + 500])
        for sop, file_id, blob in rows.values_list("sop_instance_uid", "file_id", "file__blob_id"):
            holders.setdefault(sop, []).append((file_id, blob))
    states: list[dict[str, Any]] = []
    for (node, _), (*_, sop) in zip(files, uids, strict=True):
        dupes = [(f, blob) for f, blob in holders.get(sop, []) if f != node.id]
        detail = {
            "duplicates": [f for f, _ in dupes],
            "conflict": any(blob != node.blob_id for _, blob in dupes),
        }
        states.append({"file_id": node.pk, "state": State.DICOM, "detail": detail if dupes else {}})
    bulk.insert_values(IndexState, states)


def _mark(
    node: Node, state: State, *, error: str = "", detail: dict[str, Any] | None = None
) -> None:
    IndexState.objects.update_or_create(
        file=node, defaults={"state": state, "error": error[:2000], "detail": detail or {}}
    )


def _read(node: Node) -> Dataset | None:
    """The header of a stored file, or None when the file is not DICOM at all."""
    assert node.blob_id is not None
    path = blobstore.blob_path(node.blob_id)
    with open(path, "rb") as fh:
        head = fh.read(132)
    has_magic = len(head) == 132 and head[128:132] == b"DICM"
    if not has_magic and not node.name.lower().endswith(PROBE_SUFFIXES[:-1]):
        return None
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, force=not has_magic)
    except (InvalidDicomError, EOFError) as exc:
        if has_magic:
            raise Invalid(DicomError.CORRUPT, f"Unreadable DICOM: {exc}") from exc
        return None
    except Exception as exc:  # pydicom raises many kinds on truncated or garbled data
        raise Invalid(DicomError.CORRUPT, f"Unreadable DICOM: {type(exc).__name__}: {exc}") from exc


def index_file(node: Node) -> State:
    """Look at one File; index it if it is DICOM. Never raises for bad content."""
    try:
        ds = _read(node)
        if ds is None or ("SOPInstanceUID" not in ds and "DirectoryRecordSequence" not in ds):
            _mark(node, State.NOT_DICOM)
            return State.NOT_DICOM
        meta = getattr(ds, "file_meta", None)
        if meta is not None and meta.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS:
            records = len(ds.get("DirectoryRecordSequence", []))
            _mark(node, State.DICOMDIR, detail={"records": records})
            return State.DICOMDIR
        with transaction.atomic():
            indexed = index_dataset(node, ds)
            detail = {"duplicates": indexed.duplicates, "conflict": indexed.conflict}
            _mark(node, State.DICOM, detail=detail if indexed.duplicates else {})
        return State.DICOM
    except Invalid as exc:
        _mark(node, State.ERROR, error=exc.message)
        return State.ERROR
    except (IntegrityError, OSError) as exc:
        log.warning("indexing file %s failed: %s", node.pk, exc)
        _mark(node, State.ERROR, error=f"{type(exc).__name__}: {exc}")
        return State.ERROR


@operations.poller
def index_pending(limit: int = 200) -> int:
    """Index queued files (oldest first); return how many were looked at."""
    states = list(
        IndexState.objects.filter(state=State.PENDING)
        .select_related("file", "organise_into", "requested_by")
        .order_by("updated_at")[:limit]
    )
    for state in states:
        node = state.file
        if node.in_trash or node.kind != Kind.FILE:
            _mark(node, State.NOT_DICOM)
            continue
        result = index_file(node)
        if result == State.DICOM and state.organise_into is not None:
            from sinfonia.dicom.services.organise import organise_file

            user = state.requested_by
            actor = Actor(user=user, channel="dicom", client="indexer")
            try:
                organise_file(actor, node, state.organise_into)
            except Exception as exc:  # the file stays where it was uploaded; say why
                log.warning("organising file %s failed: %s", node.pk, exc)
                IndexState.objects.filter(file=node).update(
                    detail={**state.detail, "organise_error": str(exc)}
                )
    return len(states)


def encode(ds: Dataset) -> bytes:
    """A dataset as a DICOM Part 10 file (PS3.10 §7): preamble, file meta, dataset."""
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def instance_name(header: Header) -> str:
    """A readable, unique file name for a received instance."""
    number = header.int("InstanceNumber")
    modality = header.text("Modality", 16) or "DICOM"
    uid = header.sop_instance_uid
    prefix = f"{modality}{number:05d}_" if number is not None else f"{modality}_"
    return f"{prefix}{uid}.dcm"


@dataclass(frozen=True, slots=True)
class Ingested:
    node: Node
    already_there: bool


@dataclass(frozen=True, slots=True)
class Received:
    """An instance for `ingest_instances`: its parsed header, its bytes in the blob store."""

    header: Header
    stored: blobstore.StoredBytes


def ingest_instance(
    actor: Actor,
    parent: Node,
    ds: Dataset,
    *,
    data: bytes | None = None,
    organise: bool = True,
    stored: blobstore.StoredBytes | None = None,
) -> Ingested:
    """Store a received DICOM instance and index it at once (C-STORE; STOW-RS sends batches
    to `ingest_instances`, which this calls with a batch of one): the one ingest path of
    DICOM-native transports.

    ``data`` is the Part 10 encoding when the transport has it; otherwise it is made from
    ``ds``; ``stored``: the bytes are already in the blob store (a transport streamed them
    there, so a large instance never sits in memory). With ``organise`` the file is filed into
    Patient / Study / Series folders under ``parent``; otherwise a fileset per series.

    The same instance sent again (same SOP Instance UID, same bytes, same place) is a success
    that stores nothing new (``already_there``), as modalities resend after lost responses;
    other bytes under that SOP Instance UID there are refused (Conflict DUPLICATE_INSTANCE).
    On any refusal bytes this function stored are discarded unless another file uses them.
    """
    from sinfonia.storage.services import discard_unclaimed

    owned = stored is None  # bytes a caller streamed in stay the caller's to discard
    if stored is None:
        stored = blobstore.write_chunks([data if data is not None else encode(ds)])
    try:
        received = Received(Header.of(ds), stored)
        (result,) = ingest_instances(actor, parent, [received], organise=organise)
        if isinstance(result, Exception):
            raise result
    except BaseException:
        if owned:
            discard_unclaimed(stored.sha256)
        raise
    return result


def ingest_instances(
    actor: Actor, parent: Node, received: Sequence[Received], *, organise: bool = True
) -> list[Ingested | Exception]:
    """`ingest_instance` for a batch of instances whose bytes are in the blob store (STOW-RS):
    per instance its outcome, or the exception that refused it. The bytes of refused instances
    stay the caller's to discard.

    The database work of the whole batch is one transaction with a few queries per kind of
    row; should it fail (a concurrent writer took a name, say), each instance is tried again
    on its own, so one bad instance never costs the others their place.
    """
    from sinfonia.dicom.services.organise import series_filesets
    from sinfonia.resources.services.files import NewFile, register_files

    results: list[Ingested | Exception | None] = [None] * len(received)

    def _duplicate(i: int) -> Conflict:
        return Conflict(
            DicomError.DUPLICATE_INSTANCE,
            "Another instance with SOP Instance UID "
            f"{received[i].header.sop_instance_uid} is already there.",
        )

    def done() -> list[Ingested | Exception]:
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    placed: list[tuple[int, Node, str]] = []  # (index, fileset, file name)
    filable: list[int] = []
    for i, item in enumerate(received):
        try:
            instance_uids(item.header)
            filable.append(i)
        except ServiceError as exc:
            results[i] = exc
    targets = series_filesets(
        actor, parent, [received[i].header for i in filable], organise=organise
    )
    for i in filable:
        target = targets[received[i].header.series_instance_uid]
        if isinstance(target, Exception):
            results[i] = target
        else:
            placed.append((i, target, instance_name(received[i].header)))
    existing: dict[tuple[int, str], Node] = {}
    if placed:
        there = Node.objects.filter(
            parent_id__in={t.id for _, t, _ in placed},
            name__in={name for *_, name in placed},
            in_trash=False,
        )
        existing = {(n.parent_id or 0, n.name): n for n in there}
    creating: dict[tuple[int, str], int] = {}  # (fileset id, name) -> the index creating it
    twins: list[tuple[int, int]] = []  # (index, index of the same instance earlier in the batch)
    for i, target, name in placed:
        sha = received[i].stored.sha256
        key = (target.id, name)
        earlier, first = existing.get(key), creating.get(key)
        if earlier is not None:
            same = earlier.blob_id == sha
            results[i] = Ingested(node=earlier, already_there=True) if same else _duplicate(i)
        elif first is not None:
            if received[first].stored.sha256 == sha:
                twins.append((i, first))
            else:
                results[i] = _duplicate(i)
        else:
            creating[key] = i
    if not creating:
        return done()
    filesets = {i: t for i, t, _ in placed}
    names = {i: name for i, _, name in placed}
    order = sorted(creating.values())
    try:
        with transaction.atomic():
            nodes = register_files(
                actor,
                [
                    NewFile(filesets[i], names[i], received[i].stored, "application/dicom")
                    for i in order
                ],
            )
            made: list[tuple[Node, Header]] = []
            for i, node in zip(order, nodes, strict=True):
                results[i] = Ingested(node=node, already_there=False)
                made.append((node, received[i].header))
            _index_new(made)
    except Exception as exc:
        if len(creating) == 1 and not twins:
            results[next(iter(creating.values()))] = exc
            return done()
        if not isinstance(exc, ServiceError):
            log.warning("ingesting a batch failed (%s); trying its instances one by one", exc)
        # Each on its own, in order, so that the twin of an instance finds it there.
        for i in sorted([*creating.values(), *(i for i, _ in twins)]):
            (results[i],) = ingest_instances(actor, parent, [received[i]], organise=organise)
        return done()
    for i, first in twins:
        made_first = results[first]
        assert isinstance(made_first, Ingested)
        results[i] = Ingested(node=made_first.node, already_there=True)
    return done()


DEFAULT_FOLDER = "DICOM"


def default_destination(actor: Actor) -> Node:
    """Where received instances go when nobody said: the "DICOM" folder of the user's
    personal collection, created on first need (safe against a racing twin)."""
    from sinfonia.resources.services import tree

    if actor.user is None:
        raise Invalid(DicomError.INVALID_DESTINATION, "Received instances belong to a user.")
    home = tree.ensure_home(actor.user)
    for _ in range(3):
        existing = Node.objects.filter(parent=home, name=DEFAULT_FOLDER, in_trash=False).first()
        if existing is not None:
            if existing.kind not in (Kind.FOLDER, Kind.FILESET):
                raise Conflict(
                    DicomError.INVALID_DESTINATION,
                    f"{home.name}/{DEFAULT_FOLDER} is a {existing.kind_name}; name a destination.",
                )
            return existing
        try:
            return tree.create_folder(actor, home, DEFAULT_FOLDER)
        except Conflict:
            continue  # created meanwhile by a concurrent request: look again
    raise Conflict(
        DicomError.INVALID_DESTINATION, f"Could not create {home.name}/{DEFAULT_FOLDER}."
    )


INSTANCE_FIELDS = (
    "series_id",
    "sop_instance_uid",
    "sop_class_uid",
    "instance_number",
    "transfer_syntax_uid",
    "rows",
    "columns",
    "number_of_frames",
    "slice_position",
    "header",
)


def copy_index(pairs: list[tuple[int, int]]) -> None:
    """Index copied files from their sources' rows (same bytes, so the same header), in bulk.

    ``pairs`` are (source file id, copy file id). Copies of DICOM files are instances too, so
    they answer queries where the copy's readers can see them; they are duplicates by nature.
    """
    if not pairs:
        return
    sources = [s for s, _ in pairs]
    instances = {i.file_id: i for i in Instance.objects.filter(file_id__in=sources)}
    states = {s.file_id: s for s in IndexState.objects.filter(file_id__in=sources)}
    Instance.objects.bulk_create(
        [
            Instance(file_id=copy, **{f: getattr(instances[src], f) for f in INSTANCE_FIELDS})
            for src, copy in pairs
            if src in instances
        ],
        batch_size=500,
    )
    IndexState.objects.bulk_create(
        [
            IndexState(
                file_id=copy,
                state=states[src].state if src in states else State.PENDING,
                error=states[src].error if src in states else "",
                detail={"copy_of": src} if src in instances else {},
            )
            for src, copy in pairs
        ],
        batch_size=500,
    )
