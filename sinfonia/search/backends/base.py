"""What a search backend provides, and the pieces its implementations share.

A backend is the only place that knows which database runs underneath
(docs/decisions/0005-search-backends.md): full-text matching of folded tokens, prefix
matching on the materialised path, LIKE patterns, and reading members of JSON columns (the
element's metadata, the DICOM header). Everything else in search is portable Django.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, F, Field, Func, Model, Q, QuerySet
from django.db.models.sql.compiler import SQLCompiler

# Node columns holding folded tokens (core/textfold.py), by the name search uses for them.
COLUMNS = {
    "name": "search_name",
    "description": "search_description",
    "ids": "search_ids",
    "meta": "search_meta",
}


@dataclass(frozen=True, slots=True)
class Phrase:
    """Folded tokens that must follow each other; the last one may be a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass(frozen=True, slots=True)
class TextClause:
    """``phrase`` in any of ``columns`` (keys of `COLUMNS`)."""

    columns: tuple[str, ...]
    phrase: Phrase


class Backend(Protocol):
    vendor: str

    def session(self) -> AbstractContextManager[None]:
        """Around the statements of one search: settings the database should run them with."""

    def text_rows(self) -> QuerySet[Model] | None:
        """Rows, one per node, narrower than the node table, with its ``id``,
        ``acl_root_id``, ``in_trash``, ``search_name``, ``sort_name`` and
        ``search_description`` and the full-text index of the last two; a search whose
        criteria read nothing else runs on them. None: run every search on the node table.
        """

    def text_match(self, clauses: Sequence[TextClause]) -> Q:
        """Nodes matching every clause, through the full-text index."""

    def subtree(self, prefix: str) -> Q:
        """Nodes whose ``ancestry`` starts with ``prefix`` (an index range, not a scan)."""

    def like(self, column: str, pattern: str) -> Q:
        """``column LIKE pattern`` with ``\\`` as the escape character, case as stored."""

    def json_text(self, column: str, key: str) -> Expression:
        """The member ``key`` of a JSON object column as text (``true``/``false`` for
        booleans, JSON text for arrays and objects, NULL when absent)."""

    def json_number(self, column: str, key: str) -> Expression:
        """The member ``key`` as a number, NULL unless it is a JSON number."""

    def json_has(self, column: str, key: str) -> Q:
        """Rows whose JSON object column has the member ``key``."""

    def dicom_values(self, tag: str) -> Expression:
        """All values of a top-level attribute of ``Instance.header`` (``"00181030"``) joined
        by ``\\`` as DICOM writes them; a person name by its alphabetic form."""

    def dicom_first_text(self, tag: str) -> Expression:
        """The first value of an attribute as text (dates and times)."""

    def dicom_first_number(self, tag: str) -> Expression:
        """The first value of an attribute as a number, NULL unless numeric."""


class Sql(Func):
    """An SQL fragment over one column of the queried model.

    ``{col}`` in ``sql`` stands for the column (qualified with whatever alias the query gives
    the table, so the fragment also works inside subqueries); ``%s`` are ``params``.
    """

    def __init__(self, column: str, sql: str, params: Sequence[Any], output_field: Field[Any, Any]):
        super().__init__(F(column), output_field=output_field)
        self.sql = sql
        self.sql_params = list(params)

    def as_sql(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        if column_params:
            raise ValueError("a search fragment's column takes no parameters")
        return self.sql.replace("{col}", column_sql), list(self.sql_params)
