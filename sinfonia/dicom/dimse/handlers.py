"""DIMSE service handlers, one per message (pynetdicom event handlers). Each takes the
association's `Session`, calls the dicom services and selectors, and answers with the status
codes listed in `sinfonia.dicom.dimse` (errors through `status.failure`, the one translator).
Nothing here touches models or storage directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.events import Event

from sinfonia.core.errors import Invalid
from sinfonia.dicom import query
from sinfonia.dicom.dimse import identifiers, status, transfer
from sinfonia.dicom.dimse.association import Session, db_work, session_of
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.models import Instance
from sinfonia.dicom.services import receive, remote_aes

PAGE = 200


def _model(event: Event) -> str:
    return identifiers.MODELS.get(str(event.request.AffectedSOPClassUID), identifiers.STUDY_ROOT)


# -- C-ECHO -------------------------------------------------------------------------------------


def on_echo(event: Event) -> int:
    """C-ECHO (PS3.4 A.4): 0x0000 for every accepted association."""
    session_of(event)
    return status.SUCCESS


# -- C-STORE ------------------------------------------------------------------------------------


def on_store(event: Event) -> int | Dataset:
    """C-STORE (PS3.4 B.2.3): stored as received (no transcoding) through `ingest_instance`."""
    session = session_of(event)
    with db_work():
        try:
            try:
                ds = event.dataset
                ds.file_meta = event.file_meta
                data = event.encoded_dataset()
            except Exception as exc:
                raise Invalid(DicomError.CORRUPT, f"Cannot decode the data set: {exc}") from exc
            receive.receive_instance(session.actor, session.remote, ds, data)
        except Exception as exc:
            return status.failure(exc)
    return status.SUCCESS


# -- C-FIND -------------------------------------------------------------------------------------


def _pages(rows: Any) -> Iterator[list[Any]]:
    last = 0
    while True:
        page = list(rows.filter(pk__gt=last).order_by("pk")[:PAGE])
        if not page:
            return
        yield page
        last = page[-1].pk


def _figures(session: Session, level: query.Level, page: list[Any]) -> dict[int, dict[str, Any]]:
    if level == "instance":
        return {}
    pks = [row.pk for row in page]
    figures = query.counts(session.actor, level, pks)
    if level == "patient":
        for pk, n in query.study_counts(session.actor, pks).items():
            figures[pk]["studies"] = n
    return figures


def on_find(event: Event, ae_title: str) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """C-FIND (PS3.4 C.4.1): 0xFF00 per match, then 0x0000; 0xFE00 when cancelled."""
    session = session_of(event)
    with db_work():
        try:
            identifier = event.identifier
            level = identifiers.level_of(identifier, _model(event))
            filters, requested = identifiers.filters_of(identifier)
            rows = query.search(session.actor, level, filters).select_related(
                *identifiers.SELECT_RELATED[level]
            )
            if level == "instance":
                rows = query.one_per_uid(session.actor, rows)
            level_text = str(identifier.QueryRetrieveLevel).strip().upper()
            for page in _pages(rows):
                figures = _figures(session, level, page)
                for row in page:
                    if event.is_cancelled:
                        yield status.CANCEL, None
                        return
                    yield (
                        status.PENDING,
                        identifiers.response(
                            row,
                            level,
                            level_text,
                            requested,
                            figures.get(row.pk, {}),
                            retrieve_ae_title=ae_title,
                        ),
                    )
        except Exception as exc:
            yield status.failure(exc), None
            return
    yield status.SUCCESS, None


# -- C-GET and C-MOVE ---------------------------------------------------------------------------


def _selection(event: Event, session: Session) -> list[Instance]:
    identifier = event.identifier
    level = identifiers.level_of(identifier, _model(event))
    filters, _ = identifiers.filters_of(identifier)
    return list(query.retrieve_instances(session.actor, level, filters))


def on_get(event: Event) -> Iterator[Any]:
    """C-GET (PS3.4 C.4.3): C-STORE sub-operations over this association, in the contexts
    the requestor proposed as SCP (SCP/SCU role selection, PS3.7 D.3.3.4)."""
    session = session_of(event)
    with db_work():
        try:
            instances = _selection(event, session)
        except Exception as exc:
            # The first answer must be a count; one failed sub-operation carries the status.
            yield 1
            yield status.failure(exc), None
            return
        yield len(instances)
        for instance in instances:
            if event.is_cancelled:
                yield status.CANCEL, None
                return
            ds = transfer.read(session.actor, instance)
            yield status.PENDING, transfer.fit(ds, event.assoc)


def on_move(event: Event) -> Iterator[Any]:
    """C-MOVE (PS3.4 C.4.2): C-STORE sub-operations over a new association to the Move
    Destination, which must be a configured AE with host and port (else 0xA801)."""
    session = session_of(event)
    with db_work():
        destination = remote_aes.move_destination(str(event.move_destination or ""))
        if destination is None:
            yield None, None  # pynetdicom answers 0xA801 Move Destination unknown
            return
        target = transfer.SubAssociation()
        try:
            instances = _selection(event, session)
        except Exception as exc:
            # The answers must be a destination and a count first (pynetdicom opens the
            # association before it reads the status); one failed sub-operation carries it.
            yield destination.host, destination.port, {"contexts": transfer.contexts_for([])}
            yield 1
            yield status.failure(exc), None
            return
        if instances:
            remote_aes.record_move(session.actor, destination, len(instances))
        yield (
            destination.host,
            destination.port,
            {
                "contexts": transfer.contexts_for(instances),
                "evt_handlers": [(evt.EVT_ESTABLISHED, target.capture)],
            },
        )
        yield len(instances)
        for instance in instances:
            if event.is_cancelled:
                yield status.CANCEL, None
                return
            ds = transfer.read(session.actor, instance)
            yield status.PENDING, transfer.fit(ds, target.assoc)
