from __future__ import annotations

from django.conf import settings
from django.db import models


class Level(models.IntegerChoices):
    """Access levels; each includes the ones below it."""

    READ = 1, "read"
    WRITE = 2, "write"
    ADMIN = 3, "admin"


class AccessEntry(models.Model):
    """One line of an access list: a user or a group gets a level on an ACL-root node."""

    node = models.ForeignKey("resources.Node", on_delete=models.CASCADE, related_name="acl")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey(
        "accounts.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    level = models.PositiveSmallIntegerField(choices=Level.choices)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="access_user_xor_group",
            ),
            models.UniqueConstraint(
                fields=["node", "user"],
                condition=models.Q(user__isnull=False),
                name="access_unique_user",
            ),
            models.UniqueConstraint(
                fields=["node", "group"],
                condition=models.Q(group__isnull=False),
                name="access_unique_group",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "level"], name="access_user_level"),
            models.Index(fields=["group", "level"], name="access_group_level"),
        ]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id else f"group {self.group_id}"
        return f"{who}: {self.get_level_display()} on {self.node_id}"
