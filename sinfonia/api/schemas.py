from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from sinfonia.resources.models import Kind, Node
from sinfonia.resources.selectors import Page, Summary

KindName = Literal["collection", "folder", "fileset", "file"]


class ErrorOut(Schema):
    code: str
    detail: str


class ProjectIdIn(Schema):
    general: dict[str, str] = Field(default_factory=dict)
    specific: str = ""


class NodeOut(Schema):
    id: int
    kind: KindName
    name: str
    description: str
    parent_id: int | None
    size: int
    file_count: int | None = None
    mime_type: str
    sinfonia_id: str
    sinfonia_id_parts: dict[str, str]
    creator: str | None
    created_at: datetime
    updated_at: datetime
    has_own_acl: bool
    personal: bool

    @staticmethod
    def of(node: Node) -> dict[str, Any]:
        return {
            "id": node.id,
            "kind": Kind(node.kind).label,
            "name": node.name,
            "description": node.description,
            "parent_id": node.parent_id,
            "size": node.size,
            "file_count": getattr(node, "file_count", None),
            "mime_type": node.mime_type,
            "sinfonia_id": node.sinfonia_id,
            "sinfonia_id_parts": node.sinfonia_id_parts,
            "creator": node.creator.username if node.creator_id and node.creator else None,
            "created_at": node.created_at,
            "updated_at": node.updated_at,
            "has_own_acl": node.has_own_acl,
            "personal": node.home_of_id is not None,
        }


class CrumbOut(Schema):
    id: int
    kind: KindName
    name: str


class SummaryOut(Schema):
    size: int
    files: int
    filesets: int
    folders: int


class NodeDetailOut(NodeOut):
    path: str
    breadcrumb: list[CrumbOut]
    summary: SummaryOut
    meta: dict[str, Any]
    access: Literal["read", "write", "admin"]
    sha256: str | None = None


class PageOut(Schema):
    items: list[NodeOut]
    total: int
    offset: int
    limit: int

    @staticmethod
    def of(page: Page) -> dict[str, Any]:
        return {
            "items": [NodeOut.of(n) for n in page.items],
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
        }


def summary_out(s: Summary) -> dict[str, int]:
    return {"size": s.size, "files": s.files, "filesets": s.filesets, "folders": s.folders}
