from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "sinfonia.storage"
    label = "storage"
    verbose_name = "Storage"
