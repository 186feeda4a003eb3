from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "sinfonia.support"
    label = "support"
    verbose_name = "Support"
