"""PostgreSQL: a narrow copy of the node columns a search by words reads, kept in step by
triggers on the node table (search.models.NodeText, docs/decisions/0005-search-backends.md).
Nothing on SQLite."""

from django.db import migrations, models


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from sinfonia.search.backends import postgresql

        postgresql.install_text_copy(schema_editor.connection)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from sinfonia.search.backends import postgresql

        postgresql.uninstall_text_copy(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('search', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='NodeText',
            fields=[
                ('id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('acl_root_id', models.BigIntegerField(null=True)),
                ('in_trash', models.BooleanField()),
                ('search_name', models.TextField()),
                ('sort_name', models.CharField(max_length=255)),
                ('search_description', models.TextField()),
            ],
            options={
                'db_table': 'search_node_text',
                'managed': False,
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
