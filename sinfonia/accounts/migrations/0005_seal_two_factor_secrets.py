"""Two-factor seeds are sealed with a key derived from SECRET_KEY (`accounts.sealed`)."""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from sinfonia.accounts import sealed

PURPOSE = "totp"


def seal_all(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    TwoFactor = apps.get_model("accounts", "TwoFactor")
    for row in TwoFactor.objects.exclude(secret__startswith=sealed.PREFIX):
        row.secret = sealed.seal(row.secret, PURPOSE)
        row.save(update_fields=["secret"])


def unseal_all(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    TwoFactor = apps.get_model("accounts", "TwoFactor")
    for row in TwoFactor.objects.filter(secret__startswith=sealed.PREFIX):
        row.secret = sealed.unseal(row.secret, PURPOSE)
        row.save(update_fields=["secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_api_key_scope"),
    ]

    operations = [
        migrations.AlterField(
            model_name="twofactor",
            name="secret",
            field=models.CharField(max_length=160),
        ),
        migrations.RunPython(seal_all, unseal_all),
    ]
