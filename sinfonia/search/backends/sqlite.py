"""SQLite: an FTS5 table over the folded name, description, identifier and metadata columns
of the node table, kept in step by triggers (docs/decisions/0005-search-backends.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Expression, FloatField, Model, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from sinfonia.search.backends.base import COLUMNS, Phrase, Sql, TextClause

FTS_TABLE = "search_node_fts"
NODE_TABLE = "resources_node"
INDEXED = ("search_name", "search_description", "search_ids", "search_meta")

# unicode61 without diacritics removal: the text is folded already (core/textfold.py), and
# the tokenizer splits it at the single spaces folding leaves. External content: the words
# live in the node table; FTS5 keeps only the index.
CREATE_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"{', '.join(INDEXED)}, content='{NODE_TABLE}', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')"
)
_new = ", ".join(f"new.{c}" for c in INDEXED)
_old = ", ".join(f"old.{c}" for c in INDEXED)
_changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in INDEXED)
TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON {NODE_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, {', '.join(INDEXED)}) VALUES (new.id, {_new}); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON {NODE_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {', '.join(INDEXED)}) "
    f"VALUES ('delete', old.id, {_old}); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update AFTER UPDATE OF {', '.join(INDEXED)} "
    f"ON {NODE_TABLE} WHEN {_changed} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {', '.join(INDEXED)}) "
    f"VALUES ('delete', old.id, {_old}); "
    f"INSERT INTO {FTS_TABLE}(rowid, {', '.join(INDEXED)}) VALUES (new.id, {_new}); END",
)
REBUILD = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"
DROP = (
    *(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{event}" for event in ("insert", "delete", "update")),
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the index and its triggers and fill it from the node table (migration)."""
    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
        for sql in TRIGGERS:
            cursor.execute(sql)
        cursor.execute(REBUILD)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for sql in DROP:
            cursor.execute(sql)


def ensure_triggers(connection: BaseDatabaseWrapper) -> None:
    """Put back triggers that a rebuild of the node table dropped (after every migrate).

    Such a rebuild keeps every row and id, so the index itself stays right."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE]
        )
        if cursor.fetchone() is None:
            return  # search's migration has not run yet
        for sql in TRIGGERS:
            cursor.execute(sql)


def _phrase(phrase: Phrase) -> str:
    quoted = '"' + phrase.text.replace('"', '""') + '"'
    return quoted + "*" if phrase.prefix else quoted


def _json_path(key: str) -> str:
    return "$." + json.dumps(key, ensure_ascii=False)


def _value_path(tag: str) -> str:
    return f'$."{tag}".Value'


class SqliteBackend:
    vendor = "sqlite"

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()

    def text_rows(self) -> QuerySet[Model] | None:
        return None  # FTS5 answers from its own tables; the node rows are read for the hits

    def text_match(self, clauses: Sequence[TextClause]) -> Q:
        expression = " AND ".join(
            "{" + " ".join(COLUMNS[c] for c in clause.columns) + "} : " + _phrase(clause.phrase)
            for clause in clauses
        )
        rows = RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", (expression,))
        return Q(pk__in=rows)

    def subtree(self, prefix: str) -> Q:
        # LIKE never uses an index on SQLite (it is case-insensitive); the range does. Ids and
        # "/" compare bytewise, and "0" follows "/", so the range is exactly the prefix.
        assert prefix.endswith("/")
        return Q(ancestry__gte=prefix, ancestry__lt=prefix[:-1] + "0")

    def like(self, column: str, pattern: str) -> Q:
        return Q(Sql(column, "{col} LIKE %s ESCAPE '\\'", [pattern], BooleanField()))

    def json_text(self, column: str, key: str) -> Expression:
        path = _json_path(key)
        return Sql(
            column,
            "CASE json_type({col}, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            "ELSE json_extract({col}, %s) END",
            [path, path],
            TextField(),
        )

    def json_number(self, column: str, key: str) -> Expression:
        path = _json_path(key)
        return Sql(
            column,
            "CASE WHEN json_type({col}, %s) IN ('integer', 'real') "
            "THEN json_extract({col}, %s) END",
            [path, path],
            FloatField(),
        )

    def json_has(self, column: str, key: str) -> Q:
        return Q(Sql(column, "json_type({col}, %s) IS NOT NULL", [_json_path(key)], BooleanField()))

    def dicom_values(self, tag: str) -> Expression:
        return Sql(
            "header",
            "(SELECT group_concat(CASE v.type WHEN 'object' "
            "THEN json_extract(v.value, '$.Alphabetic') ELSE v.value END, '\\') "
            "FROM json_each({col}, %s) AS v)",
            [_value_path(tag)],
            TextField(),
        )

    def dicom_first_text(self, tag: str) -> Expression:
        return Sql("header", "json_extract({col}, %s)", [_value_path(tag) + "[0]"], TextField())

    def dicom_first_number(self, tag: str) -> Expression:
        path = _value_path(tag) + "[0]"
        return Sql(
            "header",
            "CASE WHEN json_type({col}, %s) IN ('integer', 'real') "
            "THEN json_extract({col}, %s) END",
            [path, path],
            FloatField(),
        )
