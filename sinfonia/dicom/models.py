"""The DICOM index: Patient → Study → Series → Instance rows derived from the files in the tree.

One source of truth: an Instance *is* a File (``Instance.file``); deleting or moving the file
changes what the index shows, and who may see an instance is who may read its file
(docs/decisions/0004-dicom-index.md). The main attributes are columns for matching (PS3.18
§8.3.4 / PS3.4 C.6); the whole header, without pixel data, is kept as DICOM JSON.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Patient(models.Model):
    patient_id = models.CharField(max_length=64, db_index=True)
    issuer = models.CharField(max_length=64, blank=True, default="")
    patient_name = models.CharField(max_length=324, blank=True, default="")
    birth_date = models.CharField(max_length=8, blank=True, default="")
    sex = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient_id", "issuer"], name="dicom_patient_unique")
        ]

    def __str__(self) -> str:
        return self.patient_id


class Study(models.Model):
    study_instance_uid = models.CharField(max_length=64, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="studies")
    study_date = models.CharField(max_length=8, blank=True, default="", db_index=True)
    study_time = models.CharField(max_length=16, blank=True, default="")
    accession_number = models.CharField(max_length=16, blank=True, default="", db_index=True)
    study_id = models.CharField(max_length=16, blank=True, default="")
    study_description = models.CharField(max_length=64, blank=True, default="")
    referring_physician_name = models.CharField(max_length=324, blank=True, default="")

    def __str__(self) -> str:
        return self.study_instance_uid


class Series(models.Model):
    series_instance_uid = models.CharField(max_length=64, unique=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    modality = models.CharField(max_length=16, blank=True, default="", db_index=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=64, blank=True, default="")
    body_part_examined = models.CharField(max_length=16, blank=True, default="")
    series_date = models.CharField(max_length=8, blank=True, default="")

    def __str__(self) -> str:
        return self.series_instance_uid


class Instance(models.Model):
    file = models.OneToOneField(
        "resources.Node", on_delete=models.CASCADE, related_name="dicom_instance"
    )
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, db_index=True)
    sop_class_uid = models.CharField(max_length=64, blank=True, default="")
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True, default="")
    rows = models.IntegerField(null=True, blank=True)
    columns = models.IntegerField(null=True, blank=True)
    number_of_frames = models.IntegerField(null=True, blank=True)
    slice_position = models.FloatField(null=True, blank=True)
    header = models.JSONField(default=dict)
    indexed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["series", "instance_number"], name="dicom_instance_order"),
            # Counting a page of studies' instances (`query.counts`) reads only this index,
            # never the rows with their headers: ten times faster at 10,000 instances.
            models.Index(
                fields=["series", "sop_instance_uid", "file"], name="dicom_instance_counts"
            ),
        ]

    def __str__(self) -> str:
        return self.sop_instance_uid


class State(models.TextChoices):
    PENDING = "pending"
    DICOM = "dicom"
    DICOMDIR = "dicomdir"
    NOT_DICOM = "not_dicom"
    ERROR = "error"


class IndexState(models.Model):
    """Whether a file has been looked at by the indexer, and what it found."""

    file = models.OneToOneField(
        "resources.Node", on_delete=models.CASCADE, related_name="index_state"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    organise_into = models.ForeignKey(
        "resources.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["state", "updated_at"], name="dicom_index_queue")]

    def __str__(self) -> str:
        return f"{self.file_id}: {self.state}"


class RemoteAE(models.Model):
    """A DICOM application entity Sinfonia talks to over DIMSE (docs/admin.md, "DICOM network").

    An AE that calls in (C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE) is served as ``user``; an AE
    without a user is refused when it calls, but may still be a C-MOVE destination, which needs
    ``host`` and ``port``. C-STORE from this AE lands in ``destination`` (default: the user's
    personal collection, folder "DICOM"), filed into Patient/Study/Series when ``organise``.
    """

    ae_title = models.CharField(max_length=16, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dicom_aes",
    )
    host = models.CharField(max_length=255, blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    destination = models.ForeignKey(
        "resources.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organise = models.BooleanField(default=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ae_title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(port__isnull=True) | models.Q(port__gte=1, port__lte=65535),
                name="dicom_remote_ae_port_range",
            ),
            models.CheckConstraint(
                condition=models.Q(port__isnull=True, host="")
                | (models.Q(port__isnull=False) & ~models.Q(host="")),
                name="dicom_remote_ae_host_with_port",
            ),
        ]

    def __str__(self) -> str:
        return self.ae_title

    @property
    def is_move_destination(self) -> bool:
        return bool(self.host and self.port)
