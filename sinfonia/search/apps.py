from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "sinfonia.search"
    label = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from sinfonia.search.backends import ensure_index

        # A later migration that rebuilds the node table on SQLite drops its triggers; put
        # them back after every migrate (idempotent, and a no-op on PostgreSQL).
        post_migrate.connect(ensure_index, sender=self)
