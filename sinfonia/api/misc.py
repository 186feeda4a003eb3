"""Audit log and project-identifier scheme."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS, ListQuery
from sinfonia.api.schemas import PageOut
from sinfonia.audit import selectors as audit
from sinfonia.resources import identifiers, selectors

router = Router()


class AuditOut(Schema):
    id: int
    at: datetime
    username: str
    action: str
    node_id: int | None
    path: str
    channel: str
    client: str
    detail: dict[str, Any]


class AuditPage(Schema):
    items: list[AuditOut]
    total: int


class AuditQuery(Schema):
    username: str | None = None
    action: str | None = Field(None, description='exact, or a prefix ending in "." (file.)')
    node_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=1000)


@router.get(
    "/audit",
    response={200: AuditPage, **ERRORS},
    tags=["audit"],
    summary="Audit events, newest first (site administrators)",
)
def list_audit(request: HttpRequest, q: Query[AuditQuery]) -> dict[str, Any]:
    qs = audit.events(
        actor(request),
        username=q.username,
        action=q.action,
        node_id=q.node_id,
        since=q.since,
        until=q.until,
    )
    items = [
        {
            "id": e.id,
            "at": e.at,
            "username": e.username,
            "action": e.action,
            "node_id": e.node_id,
            "path": e.path,
            "channel": e.channel,
            "client": e.client,
            "detail": e.detail,
        }
        for e in qs[q.offset : q.offset + q.limit]
    ]
    return {"items": items, "total": qs.count()}


@router.get("/sinfonia-ids/scheme", tags=["project identifiers"], response=dict[str, Any])
def scheme(request: HttpRequest) -> dict[str, Any]:
    """The configured identifier scheme: components, patterns, examples."""
    return identifiers.scheme().describe()


class ParsedIdOut(Schema):
    value: str
    general: dict[str, str]
    specific: str


@router.get(
    "/sinfonia-ids/parse",
    tags=["project identifiers"],
    response={200: ParsedIdOut, **ERRORS},
    summary="Validate an identifier and split it into its components",
)
def parse(request: HttpRequest, value: str) -> dict[str, Any]:
    pid = identifiers.parse(value)
    return {"value": pid.value, "general": pid.general, "specific": pid.specific}


@router.get(
    "/sinfonia-ids/resources",
    tags=["project identifiers"],
    response={200: PageOut, **ERRORS},
    summary="Elements carrying an identifier with these components",
)
def find(request: HttpRequest, q: Query[ListQuery]) -> dict[str, Any]:
    """Give components as query parameters named after the scheme's keys
    (default scheme: ``project``, ``task``, ``partner``, ``patient``, ``specific``)."""
    s = identifiers.scheme()
    keys = [c.key for c in s.general] + [s.specific.key]
    wanted = {k: request.GET[k] for k in keys if request.GET.get(k)}
    page = selectors.find_by_project_id(actor(request), wanted, offset=q.offset, limit=q.limit)
    return PageOut.of(page)
