from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "sinfonia.transfers"
    label = "transfers"
    verbose_name = "Transfers"

    def ready(self) -> None:
        # Operation handlers register themselves when their module is imported.
        from sinfonia.transfers.services import (  # noqa: F401
            jobs,
            office,
            staging_jobs,
            zips,
        )
