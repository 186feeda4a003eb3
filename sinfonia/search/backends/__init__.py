"""The search backend for the database in use: the one place that picks it by vendor."""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from sinfonia.search.backends import postgresql, sqlite
from sinfonia.search.backends.base import Backend, Phrase, TextClause

__all__ = ["Backend", "Phrase", "TextClause", "current", "ensure_index", "install", "uninstall"]

_BACKENDS: dict[str, Backend] = {
    "sqlite": sqlite.SqliteBackend(),
    "postgresql": postgresql.PostgresBackend(),
}


def current(alias: str = DEFAULT_DB_ALIAS) -> Backend:
    vendor = connections[alias].vendor
    try:
        return _BACKENDS[vendor]
    except KeyError:
        raise NotImplementedError(f"search has no backend for {vendor}") from None


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the full-text structures of ``connection``'s database (search's migration)."""
    {"sqlite": sqlite.install, "postgresql": postgresql.install}[connection.vendor](connection)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    {"sqlite": sqlite.uninstall, "postgresql": postgresql.uninstall}[connection.vendor](connection)


def ensure_index(*, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate: repair what a table rebuild may have dropped (SQLite triggers)."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        sqlite.ensure_triggers(connection)
