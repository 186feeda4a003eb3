from __future__ import annotations

from django.conf import settings
from django.db import models


class Scope(models.TextChoices):
    """What a key may do: ``read`` keys may only look (list, search, download); every write
    through any front-end refuses them in the service layer (`Actor.require_write`)."""

    READ = "read", "Read-only"
    READ_WRITE = "read-write", "Read and write"


class ApiKey(models.Model):
    """A revocable bearer credential. Only the SHA-256 of the secret is stored.

    The key shown once to its owner is ``sfk_<prefix>_<secret>``; ``prefix`` identifies the row
    so a lookup never scans hashes. ``scope`` limits what requests made with it may do.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=255)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.READ_WRITE)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def read_only(self) -> bool:
        return self.scope != Scope.READ_WRITE
