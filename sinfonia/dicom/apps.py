from django.apps import AppConfig


class DicomConfig(AppConfig):
    name = "sinfonia.dicom"
    label = "dicom"
    verbose_name = "DICOM"

    def ready(self) -> None:
        # The background indexer registers itself with the operations worker.
        from sinfonia.dicom.services import ingest  # noqa: F401
