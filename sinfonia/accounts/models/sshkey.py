from __future__ import annotations

from django.conf import settings
from django.db import models


class SshKey(models.Model):
    """An SSH public key a user registered to sign in to SFTP without a password.

    ``public_key`` is the one-line OpenSSH form (``ssh-ed25519 AAAA... comment``);
    ``fingerprint`` its ``SHA256:...`` digest, unique: one key belongs to one account.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys"
    )
    name = models.CharField(max_length=255)
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint})"
