"""The audit trail, for site administrators: filtered pages and a streamed CSV export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS
from sinfonia.audit import selectors
from sinfonia.audit.models import AuditEvent

router = Router(tags=["audit"])


class AuditQuery(Schema):
    username: str | None = Field(None, max_length=150, description="exact user name")
    action: str | None = Field(
        None, max_length=64, description='an action ("file.download"), or a prefix ending in "."'
    )
    node_id: int | None = Field(None, ge=1, description="events on this element")
    path: str | None = Field(None, max_length=4096, description="events at or below this path")
    since: datetime | None = Field(None, description="from this moment (inclusive)")
    until: datetime | None = Field(None, description="up to this moment (exclusive)")


class PageQuery(Schema):
    offset: int = Field(0, ge=0, le=10**9)
    limit: int = Field(100, ge=1, le=1000)


class AuditEventOut(Schema):
    id: int
    at: datetime
    username: str
    action: str
    node_id: int | None
    path: str
    channel: str
    client: str
    detail: dict[str, Any]

    @staticmethod
    def of(e: AuditEvent) -> dict[str, Any]:
        return {
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


class AuditPageOut(Schema):
    items: list[AuditEventOut]
    total: int
    offset: int
    limit: int


def _events(request: HttpRequest, q: AuditQuery) -> Any:
    return selectors.events(
        actor(request),
        username=q.username,
        action=q.action,
        node_id=q.node_id,
        path=q.path,
        since=q.since,
        until=q.until,
    )


@router.get(
    "/audit",
    response={200: AuditPageOut, **ERRORS},
    summary="Audit events, newest first (site administrators)",
)
def audit_events(
    request: HttpRequest, q: Query[AuditQuery], page: Query[PageQuery]
) -> dict[str, Any]:
    qs = _events(request, q)
    items = list(qs[page.offset : page.offset + page.limit])
    return {
        "items": [AuditEventOut.of(e) for e in items],
        "total": qs.count(),
        "offset": page.offset,
        "limit": page.limit,
    }


CSV_COLUMNS = ["at", "user", "action", "path", "node_id", "channel", "client", "detail"]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The CSV text of ``events``, one line at a time (the header first)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in events:
        yield writer.writerow(
            [
                e.at.isoformat(),
                e.username,
                e.action,
                _cell(e.path),
                e.node_id or "",
                e.channel,
                _cell(e.client),
                _cell(json.dumps(e.detail, ensure_ascii=False, sort_keys=True)),
            ]
        )


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading = + - @ becomes text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get(
    "/audit.csv",
    response={200: None, **ERRORS},
    summary="Audit events as CSV, streamed (administrators)",
)
def audit_csv(request: HttpRequest, q: Query[AuditQuery]) -> StreamingHttpResponse:
    qs = _events(request, q)  # refuses non-administrators before anything is streamed
    response = StreamingHttpResponse(
        csv_lines(qs.iterator(chunk_size=2000)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="sinfonia-audit.csv"'
    return response
