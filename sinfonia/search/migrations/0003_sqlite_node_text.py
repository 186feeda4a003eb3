"""SQLite: the narrow copy of the node columns a search by words reads (search_node_text,
as PostgreSQL has since 0002), kept in step by row triggers on the node table
(docs/decisions/0005-search-backends.md). Nothing on PostgreSQL."""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        from sinfonia.search.backends import sqlite

        sqlite.install_text_copy(schema_editor.connection)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        from sinfonia.search.backends import sqlite

        sqlite.uninstall_text_copy(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("search", "0002_node_text"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
