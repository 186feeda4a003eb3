"""Search's own rows (docs/decisions/0005-search-backends.md)."""

from __future__ import annotations

from django.db import models


class NodeText(models.Model):
    """A narrow copy of the node columns a search by words in names and descriptions reads
    for each hit: who may read it, whether it is in a recycle bin, and what ranks it.

    Search's migrations create the table and the triggers on the node table that keep it in
    step (`backends.postgresql`, `backends.sqlite`); Django never writes it. A search whose
    every criterion reads only these columns counts and orders its hits here, on a third
    (PostgreSQL) or a quarter (SQLite) of the pages the node table would take
    (`Backend.text_rows`).
    """

    id = models.BigIntegerField(primary_key=True)  # the node's id
    kind = models.PositiveSmallIntegerField()
    acl_root_id = models.BigIntegerField(null=True)
    in_trash = models.BooleanField()
    search_name = models.TextField()
    sort_name = models.CharField(max_length=255)
    search_description = models.TextField()

    class Meta:
        managed = False
        db_table = "search_node_text"

    def __str__(self) -> str:
        return f"text of node {self.id}"


# The narrow copy's table and columns, as both backends create and fill them.
TEXT_TABLE = NodeText._meta.db_table
TEXT_COLUMNS = (
    "id",
    "kind",
    "acl_root_id",
    "in_trash",
    "search_name",
    "sort_name",
    "search_description",
)
