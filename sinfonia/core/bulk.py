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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model
from django.db.models.constants import OnConflict


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


def _row(obj: Model, fields: list[Field[Any, Any]], connection: Any) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


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
        cursor.executemany(sql, [_row(obj, fields, connection) for obj in objs])


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
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            params = [value for obj in batch for value in _row(obj, fields, connection)]
            cursor.execute(head + ", ".join([row] * len(batch)) + tail, params)
            for obj, (new_id,) in zip(batch, cursor.fetchall(), strict=True):
                obj.pk = new_id
                obj._state.adding = False
                obj._state.db = connection.alias
