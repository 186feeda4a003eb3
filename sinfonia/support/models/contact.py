from __future__ import annotations

from django.conf import settings
from django.db import models


class Topic(models.TextChoices):
    SUPPORT = "support", "Technical support"
    PRIVACY = "privacy", "Privacy issue"


class ContactMessage(models.Model):
    """A message from a signed-in user to the site administrators."""

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender_name = models.CharField(max_length=150)  # kept when the account goes
    topic = models.CharField(max_length=16, choices=Topic.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    emailed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject


class ContactAttachment(models.Model):
    """A file sent with a message, stored under SINFONIA_SUPPORT_DIR as ``stored_name``."""

    message = models.ForeignKey(
        ContactMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.BigIntegerField()
    stored_name = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.name
