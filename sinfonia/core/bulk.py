"""Inserting many new rows: those whose ids nobody reads back (audit events, DICOM index rows,
blob rows of a STOW-RS batch) with `insert`, those whose ids are needed (the files of a batch)
with `insert_returning_ids`.

Django's ``bulk_create`` assembles one multi-row INSERT, placeholder by placeholder, for each
batch: at a hundred instances a request that is a third of the time spent indexing them. Here
one single-row INSERT is prepared per model and run by the driver's ``executemany``; values go
through each field's ``pre_save`` and ``get_db_prep_save`` exactly as in ``bulk_create``, so
defaults, ``auto_now_add`` and JSON adaptation behave the same. Like ``bulk_create``, no
signals are sent and ``save()`` is not called; unlike it, `insert` leaves the objects' primary
keys unset.

Rows of a batch share their values: a value equal to the one in the row before is prepared
once (the kind, parent, creator, ``{}`` of most rows), and the ``auto_now`` / ``auto_now_add``
timestamps of one call are one moment, set on every object as ``pre_save`` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from django.db import connections, router
from django.db.models import DateTimeField, Field, Model
from django.db.models.constants import OnConflict
from django.utils import timezone


def _fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [
        f
        for f in model._meta.local_concrete_fields
        if not getattr(f, "db_returning", False) and not getattr(f, "generated", False)
    ]


def _plan(objs: Sequence[Model]) -> tuple[type[Model], Any, list[Field[Any, Any]], str] | None:
    """(model, connection, fields, "INSERT INTO table (columns)") for ``objs``, or None when
    a field writes SQL of its own (then `bulk_create` is the way)."""
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    fields = _fields(model)
    if any(hasattr(f, "get_placeholder") for f in fields):
        return None
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column or f.name) for f in fields)
    return model, connection, fields, f"{quote(model._meta.db_table)} ({columns})"


# Values whose equality means the same prepared value. Not datetimes (one equal in another
# time zone is written otherwise), floats (-0.0 == 0.0), nor full JSON ({"a": 1} == {"a": True}).
_SHAREABLE = frozenset({str, int, bool, type(None)})
_UNSET = object()


def _shareable(value: Any) -> bool:
    kind = type(value)
    return kind in _SHAREABLE or isinstance(value, Enum) or (kind in (dict, list) and not value)


class _Rows:
    """Prepares the rows of one batch: `_row` with what consecutive rows share done once."""

    def __init__(self, fields: list[Field[Any, Any]], connection: Any) -> None:
        self.fields = fields
        self.connection = connection
        self.now: Any = None
        # 0: pre_save reads the attribute; 1: a DateTimeField's auto_now(_add); 2: other
        self.how = [
            1
            if type(f).pre_save is DateTimeField.pre_save
            and (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
            else 0
            if type(f).pre_save is Field.pre_save
            else 2
            for f in fields
        ]
        self.last: list[Any] = [_UNSET] * len(fields)
        self.prepared: list[Any] = [None] * len(fields)

    def row(self, obj: Model) -> list[Any]:
        out = []
        for i, field in enumerate(self.fields):
            how = self.how[i]
            if how == 0:
                value = getattr(obj, field.attname)
            elif how == 1:
                if self.now is None:
                    self.now = timezone.now()
                value = self.now
                setattr(obj, field.attname, value)
            else:
                value = field.pre_save(obj, True)
            last = self.last[i]
            if type(value) is type(last) and value == last and _shareable(value):
                out.append(self.prepared[i])
                continue
            prepared = field.get_db_prep_save(value, self.connection)
            self.last[i], self.prepared[i] = value, prepared
            out.append(prepared)
        return out


def insert(objs: Sequence[Model], *, ignore_conflicts: bool = False) -> None:
    """Insert ``objs`` (new instances of one model) in the current transaction.

    ``ignore_conflicts``: rows that would break a unique constraint are skipped (as
    ``bulk_create(ignore_conflicts=True)``).
    """
    if not objs:
        return
    plan = _plan(objs)
    if plan is None:
        type(objs[0])._default_manager.bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return
    _, connection, fields, target = plan
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    sql = " ".join(
        part
        for part in (
            connection.ops.insert_statement(on_conflict=on_conflict),
            target,
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None),
        )
        if part
    )
    with connection.cursor() as cursor:
        rows = _Rows(fields, connection)
        cursor.executemany(sql, [rows.row(obj) for obj in objs])


def insert_returning_ids(objs: Sequence[Model]) -> None:
    """Insert ``objs`` (new instances of one model) in the current transaction and set their
    primary keys: multi-row INSERT ... RETURNING statements written at once, as many rows to a
    statement as the database takes parameters; the ids come back in the rows' order, as
    ``bulk_create`` also relies on. Where the database cannot return them, ``bulk_create``."""
    if not objs:
        return
    plan = _plan(objs)
    pk = type(objs[0])._meta.pk
    if plan is None or pk is None or not plan[1].features.can_return_rows_from_bulk_insert:
        type(objs[0])._default_manager.bulk_create(objs)
        return
    _, connection, fields, target = plan
    head = f"{connection.ops.insert_statement()} {target} VALUES "
    row = f"({', '.join(['%s'] * len(fields))})"
    tail = f" RETURNING {connection.ops.quote_name(pk.column or pk.name)}"
    size = max(connection.ops.bulk_batch_size(fields, objs), 1)
    rows = _Rows(fields, connection)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            params = [value for obj in batch for value in rows.row(obj)]
            cursor.execute(head + ", ".join([row] * len(batch)) + tail, params)
            for obj, (new_id,) in zip(batch, cursor.fetchall(), strict=True):
                obj.pk = new_id
                obj._state.adding = False
                obj._state.db = connection.alias
