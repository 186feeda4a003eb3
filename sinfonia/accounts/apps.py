from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "sinfonia.accounts"
    label = "accounts"
    verbose_name = "Accounts"
