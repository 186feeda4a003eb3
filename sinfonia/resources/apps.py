from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "sinfonia.resources"
    label = "resources"
    verbose_name = "Resources"
