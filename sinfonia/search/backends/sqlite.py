"""SQLite: an FTS5 table over the folded name, description, identifier and metadata columns
of the node table, and a narrow copy of the node columns that a search by words reads, both
kept in step by triggers (docs/decisions/0005-search-backends.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Expression, FloatField, Model, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from sinfonia.search.backends.base import COLUMNS, Phrase, Sql, TextClause
from sinfonia.search.models import TEXT_COLUMNS, TEXT_TABLE, NodeText

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


# The narrow copy (`NodeText`): per node only what a search by words in names and
# descriptions reads for every hit (permissions, the recycle bin, the ranking). A word in
# 20,000 names is 20,000 rows to count and rank: in the node table (some 300 bytes a row, 77,000
# pages at a million nodes) they lie on nearly as many pages, which the connection's page cache
# cannot hold; in the copy (about 75 bytes a row) on a quarter as many. An INTEGER PRIMARY
# KEY table is stored in id order, so the full-text index's rowids (ascending) walk it
# forwards. Row triggers keep it in step in the writing transaction.
_text_columns = ", ".join(TEXT_COLUMNS)
_text_copied = TEXT_COLUMNS[1:]  # all but the id
CREATE_TEXT_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TEXT_TABLE} (id integer PRIMARY KEY, "
    "kind smallint NOT NULL, acl_root_id bigint, in_trash bool NOT NULL, "
    "search_name text NOT NULL, sort_name varchar(255) NOT NULL, "
    "search_description text NOT NULL)"
)
TEXT_TRIGGERS = {
    "insert": (
        f"AFTER INSERT ON {NODE_TABLE} BEGIN "
        f"INSERT INTO {TEXT_TABLE} ({_text_columns}) "
        f"VALUES ({', '.join(f'new.{c}' for c in TEXT_COLUMNS)}); END"
    ),
    "update": (
        f"AFTER UPDATE OF {', '.join(_text_copied)} ON {NODE_TABLE} "
        f"WHEN {' OR '.join(f'old.{c} IS NOT new.{c}' for c in _text_copied)} BEGIN "
        f"UPDATE {TEXT_TABLE} SET {', '.join(f'{c} = new.{c}' for c in _text_copied)} "
        "WHERE id = new.id; END"
    ),
    "delete": (
        f"AFTER DELETE ON {NODE_TABLE} BEGIN DELETE FROM {TEXT_TABLE} WHERE id = old.id; END"
    ),
}
FILL_TEXT_TABLE = (
    f"INSERT INTO {TEXT_TABLE} ({_text_columns}) SELECT {_text_columns} FROM {NODE_TABLE}"
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


def install_text_copy(connection: BaseDatabaseWrapper) -> None:
    """Create the narrow copy, fill it from the node table and add the triggers that keep it
    in step (search's migration 0003)."""
    with connection.cursor() as cursor:
        cursor.execute(CREATE_TEXT_TABLE)
        cursor.execute(f"DELETE FROM {TEXT_TABLE}")
        cursor.execute(FILL_TEXT_TABLE)
        for event, body in TEXT_TRIGGERS.items():
            cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {TEXT_TABLE}_{event} {body}")


def uninstall_text_copy(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for event in TEXT_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {TEXT_TABLE}_{event}")
        cursor.execute(f"DROP TABLE IF EXISTS {TEXT_TABLE}")


def ensure_triggers(connection: BaseDatabaseWrapper) -> None:
    """Put back triggers that a rebuild of the node table dropped (after every migrate).

    Such a rebuild keeps every row and id, so the full-text index itself stays right. The
    narrow copy is filled again when its triggers were missing: a migration may have
    written nodes after the rebuild, and refilling takes seconds at a million nodes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = set(cursor.fetchall())
        if ("table", FTS_TABLE) in present:
            for sql in TRIGGERS:
                cursor.execute(sql)
    if ("table", TEXT_TABLE) in present and not all(
        ("trigger", f"{TEXT_TABLE}_{event}") in present for event in TEXT_TRIGGERS
    ):
        with transaction.atomic(using=connection.alias):
            install_text_copy(connection)


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
        return NodeText.objects.all()  # joined to FTS5's rowids by primary key

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
