from __future__ import annotations

from django.conf import settings
from django.db import models


class TrashItem(models.Model):
    """A deleted subtree waiting in its deleter's recycle bin.

    The node keeps its ``parent`` (the original place), so restoring is flipping ``in_trash``
    back; ``original_path`` is kept for display because ancestors may be renamed meanwhile.
    """

    node = models.OneToOneField(
        "resources.Node", on_delete=models.CASCADE, related_name="trash_item"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trash_items"
    )
    original_path = models.TextField()
    trashed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-trashed_at"]

    def __str__(self) -> str:
        return self.original_path
