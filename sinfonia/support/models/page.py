from __future__ import annotations

from django.conf import settings
from django.db import models


class PageSlug(models.TextChoices):
    """The simple pages site administrators edit in the portal."""

    ABOUT = "about", "About"
    PRIVACY = "privacy", "Privacy policy"
    ANONYMISATION = "anonymisation", "Anonymisation guidelines"
    CONTACT = "contact", "Contact"


class SitePage(models.Model):
    """Plain text (rendered escaped, with paragraphs and line breaks): never raw HTML."""

    slug = models.CharField(max_length=32, choices=PageSlug.choices, unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.slug


class PolicyAcceptance(models.Model):
    """A user accepted version ``version`` of the privacy policy at ``accepted_at``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy_acceptances"
    )
    version = models.CharField(max_length=32)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="policy_accepted_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.version}"
