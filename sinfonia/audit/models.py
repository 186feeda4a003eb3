from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which element, when, from where, and through which front-end.

    ``username`` and ``path`` are copied at the time of the event so the record stays readable
    after the user or the element is gone.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    node = models.ForeignKey(
        "resources.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    path = models.TextField(blank=True, default="")
    channel = models.CharField(max_length=16)
    client = models.CharField(max_length=255, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="audit_user_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.path}"
