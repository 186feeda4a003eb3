"""Full-text structures of the search backend in use (sinfonia/search/backends/)."""

from django.db import migrations


def install(apps, schema_editor):
    from sinfonia.search.backends import install

    install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from sinfonia.search.backends import uninstall

    uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("resources", "0003_search_columns"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
