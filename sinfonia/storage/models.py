from __future__ import annotations

from django.db import models


class Blob(models.Model):
    """Bytes stored once, named by their SHA-256. ``ref_count`` counts the Files pointing here.

    The counter is kept by the storage services with atomic ``F()`` updates; `collect_garbage`
    removes blobs whose count reached zero (and verifies no File still references them).
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    ref_count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["ref_count"], name="blob_ref_count")]
        constraints = [
            models.CheckConstraint(condition=models.Q(ref_count__gte=0), name="blob_refs_gte_0"),
        ]

    def __str__(self) -> str:
        return self.sha256
