"""Inserting many new rows: those whose ids nobody reads back (audit events, DICOM index rows,
blob rows of a STOW-RS batch) with `insert`, or from plain {column: value} rows, without a
model instance each, with `insert_values`; those whose ids are needed (the files of a batch)
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
    return _plan_for(type(objs[0]))


def _plan_for(model: type[Model]) -> tuple[type[Model], Any, list[Field[Any, Any]], str] | None:
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

    def _moment(self) -> Any:
        if self.now is None:
            self.now = timezone.now()
        return self.now

    def _prepare(self, i: int, value: Any) -> Any:
        last = self.last[i]
        if type(value) is type(last) and value == last and _shareable(value):
            return self.prepared[i]
        prepared = self.fields[i].get_db_prep_save(value, self.connection)
        self.last[i], self.prepared[i] = value, prepared
        return prepared

    def row(self, obj: Model) -> list[Any]:
        """The prepared values of ``obj``'s row (``pre_save`` run, as ``save()`` would)."""
        out = []
        for i, field in enumerate(self.fields):
            how = self.how[i]
            if how == 0:
                value = getattr(obj, field.attname)
            elif how == 1:
                value = self._moment()
                setattr(obj, field.attname, value)
            else:
                value = field.pre_save(obj, True)
            out.append(self._prepare(i, value))
        return out

    def values(self, row: dict[str, Any]) -> list[Any]:
        """The prepared values of a row given as {attname: value}; fields not named take
        their default (only for models without fields of a ``pre_save`` of their own)."""
        out = []
        for i, field in enumerate(self.fields):
            if self.how[i] == 1:
                value = self._moment()
            else:
                value = row.get(field.attname, _UNSET)
                if value is _UNSET:
                    value = field.get_default()
            out.append(self._prepare(i, value))
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
    rows = _Rows(fields, connection)
    with connection.cursor() as cursor:
        cursor.executemany(
            _insert_sql(connection, fields, target, ignore_conflicts),
            [rows.row(obj) for obj in objs],
        )


def _insert_sql(
    connection: Any, fields: list[Field[Any, Any]], target: str, ignore_conflicts: bool
) -> str:
    """A single-row INSERT for ``executemany``."""
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    return " ".join(
        part
        for part in (
            connection.ops.insert_statement(on_conflict=on_conflict),
            target,
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None),
        )
        if part
    )


def insert_values(
    model: type[Model], rows: Sequence[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """`insert` of rows given as {attname: value} (``node_id``, not ``node``), without a
    model instance each (about 15 µs apiece for an audit event); fields not named take their
    default, ``auto_now`` / ``auto_now_add`` fields the moment of the call."""
    if not rows:
        return
    plan = _plan_for(model)
    rows_of = _Rows(plan[2], plan[1]) if plan is not None else None
    if plan is None or rows_of is None or 2 in rows_of.how:  # fields that need an instance
        insert([model(**row) for row in rows], ignore_conflicts=ignore_conflicts)
        return
    _, connection, fields, target = plan
    with connection.cursor() as cursor:
        cursor.executemany(
            _insert_sql(connection, fields, target, ignore_conflicts),
            [rows_of.values(row) for row in rows],
        )


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
