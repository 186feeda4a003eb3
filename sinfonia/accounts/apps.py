from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "sinfonia.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from sinfonia.accounts import checks  # noqa: F401  (registers the system checks)
