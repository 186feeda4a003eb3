"""PostgreSQL: GIN indexes on ``to_tsvector('simple', ...)`` of the folded columns, a
trigram index on the folded name, and a narrow copy of the node columns that a search by
words reads (docs/decisions/0005-search-backends.md).

The ``simple`` configuration only lower-cases, and the columns hold folded tokens already
(core/textfold.py), so the words PostgreSQL indexes are exactly the words SQLite's FTS5
indexes. The query expressions below must stay textually the index expressions of
`INDEXES`, or the planner will not use them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Expression, FloatField, Model, Q, QuerySet, TextField

from sinfonia.search.backends.base import COLUMNS, Phrase, Sql, TextClause
from sinfonia.search.models import TEXT_COLUMNS, TEXT_TABLE, NodeText

NODE_TABLE = "resources_node"
VECTOR = "to_tsvector('simple'::regconfig, {col})"
INDEXES = {
    "search_node_name_fts": f"USING gin ({VECTOR.format(col='search_name')})",
    "search_node_description_fts": f"USING gin ({VECTOR.format(col='search_description')})",
    "search_node_ids_fts": f"USING gin ({VECTOR.format(col='search_ids')})",
    "search_node_meta_fts": f"USING gin ({VECTOR.format(col='search_meta')})",
    "search_node_name_trgm": "USING gin (search_name gin_trgm_ops)",
}


# The narrow copy (`NodeText`): one row per node with just what a search by words in names
# and descriptions reads for every hit (permissions, the recycle bin, the ranking). A word
# found in 20,000 names is 20,000 rows to rank and count; in the node table (some 330
# bytes a row) they lie on 18,000 of its pages, more than the default 128 MB of shared
# buffers hold; in this copy (about 110 bytes a row) on a third as many, which stay cached.
TEXT_INDEXES = {
    "search_node_text_name_fts": f"USING gin ({VECTOR.format(col='search_name')})",
    "search_node_text_description_fts": f"USING gin ({VECTOR.format(col='search_description')})",
}
_columns = ", ".join(TEXT_COLUMNS)
_copied = TEXT_COLUMNS[1:]  # all but the id
_set = ", ".join(f"{c} = n.{c}" for c in _copied)
_old = ", ".join(f"s.{c}" for c in _copied)
_new = ", ".join(f"n.{c}" for c in _copied)
# Statement-level triggers with transition tables keep the copy in step set by set: a bulk
# insert of 1,000 nodes is one INSERT here, and an update of a subtree (ACL, recycle bin)
# one UPDATE of the rows that changed. TRUNCATE (tests' flush) empties it too.
TEXT_TRIGGERS = {
    "insert": (
        "AFTER INSERT",
        "REFERENCING NEW TABLE AS n",
        f"INSERT INTO {TEXT_TABLE} ({_columns}) SELECT {_columns} FROM n;",
    ),
    "update": (
        "AFTER UPDATE",
        "REFERENCING NEW TABLE AS n",
        f"UPDATE {TEXT_TABLE} s SET {_set} FROM n "
        f"WHERE s.id = n.id AND ({_old}) IS DISTINCT FROM ({_new});",
    ),
    "delete": (
        "AFTER DELETE",
        "REFERENCING OLD TABLE AS o",
        f"DELETE FROM {TEXT_TABLE} s USING o WHERE s.id = o.id;",
    ),
    "truncate": ("AFTER TRUNCATE", "", f"TRUNCATE {TEXT_TABLE};"),
}
CREATE_TEXT_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TEXT_TABLE} (id bigint PRIMARY KEY, kind smallint NOT NULL, "
    "acl_root_id bigint, "
    "in_trash boolean NOT NULL, search_name text NOT NULL, sort_name text NOT NULL, "
    "search_description text NOT NULL)"
)


def install(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        # pg_trgm is a trusted extension: the database owner may create it.
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, definition in INDEXES.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {NODE_TABLE} {definition}")


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


def install_text_copy(connection: BaseDatabaseWrapper) -> None:
    """Create the narrow copy, fill it from the node table, index it, and add the triggers
    that keep it in step (search's migration 0002)."""
    with connection.cursor() as cursor:
        cursor.execute(CREATE_TEXT_TABLE)
        cursor.execute(
            f"INSERT INTO {TEXT_TABLE} ({_columns}) SELECT {_columns} FROM {NODE_TABLE} "
            "ON CONFLICT (id) DO NOTHING"
        )
        for name, definition in TEXT_INDEXES.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {TEXT_TABLE} {definition}")
        for event, (when, referencing, body) in TEXT_TRIGGERS.items():
            function = f"{TEXT_TABLE}_{event}"
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {body} RETURN NULL; END $$"
            )
            cursor.execute(f"DROP TRIGGER IF EXISTS {function} ON {NODE_TABLE}")
            cursor.execute(
                f"CREATE TRIGGER {function} {when} ON {NODE_TABLE} {referencing} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        cursor.execute(f"ANALYZE {TEXT_TABLE}")


def uninstall_text_copy(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for event in TEXT_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {TEXT_TABLE}_{event} ON {NODE_TABLE}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {TEXT_TABLE}_{event}()")
        cursor.execute(f"DROP TABLE IF EXISTS {TEXT_TABLE}")


def _tsquery(phrase: Phrase) -> str:
    # Tokens are letters and digits only (core/textfold.py); quoting keeps them literal.
    words = [f"'{token}'" for token in phrase.tokens]
    if phrase.prefix:
        words[-1] += ":*"
    return " <-> ".join(words)


def _matches(column: str, query: str) -> Q:
    sql = f"{VECTOR} @@ to_tsquery('simple'::regconfig, %s)"
    return Q(Sql(column, sql, [query], BooleanField()))


class PostgresBackend:
    vendor = "postgresql"

    @contextmanager
    def session(self) -> Iterator[None]:
        # Parallel workers cost more to start than a search's bitmap scan of some thousand
        # rows saves, and take the cores other users' requests need (a 20,000-hit prefix at
        # a million files: 129 ms with them, 83 ms without); compiling a query (JIT) costs
        # 20 ms that a search of a few hundred thousand rows never wins back.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(  # SET LOCAL, both in one round trip
                "SELECT set_config('max_parallel_workers_per_gather', '0', true), "
                "set_config('jit', 'off', true)"
            )
            yield

    def text_rows(self) -> QuerySet[Model] | None:
        return NodeText.objects.all()

    def text_match(self, clauses: Sequence[TextClause]) -> Q:
        condition = Q()
        for clause in clauses:
            query = _tsquery(clause.phrase)
            either = Q()
            for column in clause.columns:
                either |= _matches(COLUMNS[column], query)
            condition &= either
        return condition

    def subtree(self, prefix: str) -> Q:
        return Q(ancestry__startswith=prefix)  # LIKE 'prefix%' on the pattern_ops index

    def like(self, column: str, pattern: str) -> Q:
        return Q(Sql(column, "{col} LIKE %s", [pattern], BooleanField()))  # escape: "\"

    def json_text(self, column: str, key: str) -> Expression:
        return Sql(column, "({col} ->> %s)", [key], TextField())

    def json_number(self, column: str, key: str) -> Expression:
        return Sql(
            column,
            "CASE WHEN jsonb_typeof({col} -> %s) = 'number' THEN ({col} ->> %s)::float8 END",
            [key, key],
            FloatField(),
        )

    def json_has(self, column: str, key: str) -> Q:
        return Q(Sql(column, "({col} ? %s)", [key], BooleanField()))

    def dicom_values(self, tag: str) -> Expression:
        return Sql(
            "header",
            "(SELECT string_agg(CASE jsonb_typeof(v) WHEN 'object' THEN v ->> 'Alphabetic' "
            "ELSE v #>> '{}' END, '\\') FROM jsonb_array_elements(CASE WHEN "
            "jsonb_typeof({col} -> %s -> 'Value') = 'array' THEN {col} -> %s -> 'Value' END) "
            "AS v)",
            [tag, tag],
            TextField(),
        )

    def dicom_first_text(self, tag: str) -> Expression:
        return Sql("header", "({col} -> %s -> 'Value' ->> 0)", [tag], TextField())

    def dicom_first_number(self, tag: str) -> Expression:
        return Sql(
            "header",
            "CASE WHEN jsonb_typeof({col} -> %s -> 'Value' -> 0) = 'number' "
            "THEN ({col} -> %s -> 'Value' ->> 0)::float8 END",
            [tag, tag],
            FloatField(),
        )
