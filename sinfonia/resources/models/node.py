from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from django.conf import settings
from django.db import models

from sinfonia.core.textfold import fold, fold_metadata

SEARCH_DESCRIPTION_LIMIT = 8000  # characters of a description that search indexes


class Kind(models.IntegerChoices):
    """What a node is. The integer order is the display order: folders before filesets."""

    COLLECTION = 0, "collection"
    FOLDER = 1, "folder"
    FILESET = 2, "fileset"
    FILE = 3, "file"


CONTAINERS = (Kind.COLLECTION, Kind.FOLDER)
DERIVED_FIELDS = ("sort_name", "search_name", "search_description", "search_ids", "search_meta")


class Node(models.Model):
    """One element of the tree: a collection, folder, fileset or file.

    One table for the four kinds keeps lookup, move, trash and permission filtering one query
    each (docs/decisions/0001-tree-and-permissions.md):

    - ``ancestry`` is the materialised path of ancestor ids, ``"/3/17/"`` (``"/"`` for a
      collection); a subtree is ``ancestry LIKE '<ancestry><id>/%'``.
    - ``acl_root`` points at the nearest ancestor-or-self that carries its own access list
      (always a collection or folder). Permission filters compare this one column.
    - ``in_trash`` is set on every node of a deleted subtree; the subtree's top has a TrashItem.
    """

    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    # db_index: on PostgreSQL Django adds a varchar_pattern_ops twin, so prefix LIKE uses it.
    ancestry = models.CharField(max_length=2000, default="/", db_index=True)
    name = models.CharField(max_length=255)
    sort_name = models.CharField(max_length=255, default="", editable=False)
    description = models.TextField(blank=True, default="")
    acl_root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    public = models.BooleanField(default=False)
    home_of = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="home_collection",
    )
    blob = models.ForeignKey(
        "storage.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="files"
    )
    size = models.BigIntegerField(default=0)
    mime_type = models.CharField(max_length=255, blank=True, default="")
    sinfonia_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    sinfonia_id_parts = models.JSONField(default=dict, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    in_trash = models.BooleanField(default=False)
    # Folded search tokens of name, description, project identifier and metadata keys and
    # values (core/textfold.py), indexed by the search backends
    # (docs/decisions/0005-search-backends.md). Derived, like ``sort_name``: `derive_columns`
    # fills them in for `save` and for bulk creation.
    search_name = models.TextField(default="", editable=False)
    search_description = models.TextField(default="", editable=False)
    search_ids = models.TextField(default="", editable=False)
    search_meta = models.TextField(default="", editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"],
                condition=models.Q(in_trash=False, parent__isnull=False),
                name="node_unique_child_name",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(in_trash=False, parent__isnull=True),
                name="node_unique_collection_name",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind=Kind.COLLECTION, parent__isnull=True)
                    | models.Q(~models.Q(kind=Kind.COLLECTION), parent__isnull=False)
                ),
                name="node_only_collections_at_top",
            ),
            models.CheckConstraint(
                condition=models.Q(kind=Kind.FILE, blob__isnull=False)
                | models.Q(~models.Q(kind=Kind.FILE), blob__isnull=True),
                name="node_files_have_blobs",
            ),
        ]
        indexes = [
            # Listing a folder: the live children of one parent in display order, so the first
            # page is read straight off the index. Partial (``NOT in_trash``), because SQLite
            # cannot use ``NOT in_trash`` as an equality on an index column; ``acl_root`` and
            # ``in_trash`` ride along so the permission-filtered count is index-only.
            models.Index(
                fields=["parent", "kind", "sort_name", "id", "acl_root", "in_trash"],
                condition=models.Q(in_trash=False),
                name="node_children",
            ),
            # `visible` looks up the (few) public ACL roots; without this it scans the table.
            models.Index(fields=["id"], condition=models.Q(public=True), name="node_public"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.derive_columns()
        fields = kwargs.get("update_fields")
        if fields is not None:
            wanted = set(cast("Iterable[str]", fields))
            if wanted & {"name", "description", "sinfonia_id", "meta"}:
                kwargs["update_fields"] = wanted | set(DERIVED_FIELDS)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def derive_columns(self) -> None:
        """Fill in the columns derived from name, description and project identifier."""
        self.sort_name = self.name.casefold()[:255]
        self.search_name = fold(self.name)
        self.search_description = fold(self.description, SEARCH_DESCRIPTION_LIMIT)
        self.search_ids = fold(self.sinfonia_id)
        self.search_meta = fold_metadata(self.meta)

    @property
    def kind_name(self) -> str:
        return Kind(self.kind).label

    @property
    def subtree_prefix(self) -> str:
        """The ``ancestry`` prefix shared by every descendant of this node."""
        return f"{self.ancestry}{self.id}/"

    @property
    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.ancestry.strip("/").split("/") if part]

    @property
    def has_own_acl(self) -> bool:
        return self.acl_root_id == self.id
