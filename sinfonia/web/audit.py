"""The audit page for site administrators: filters, a paginated table, and a CSV export link
that keeps the filters (the REST API's /api/v1/audit.csv)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from sinfonia.audit import selectors
from sinfonia.web.common import actor, portal_view

PAGE_SIZE = 50
FILTERS = ("username", "action", "path", "since", "until")


def _day(raw: str, *, end: bool = False) -> datetime | None:
    """Midnight UTC at the start of the day ``raw`` (YYYY-MM-DD), or of the next day for
    ``end`` so that "until" includes the day picked; None when empty or not a date."""
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1 if end else 0), time.min, tzinfo=UTC)


@portal_view
def audit_page(request: HttpRequest) -> HttpResponse:
    values = {k: request.GET.get(k, "")[:200].strip() for k in FILTERS}
    since, until = _day(values["since"]), _day(values["until"], end=True)
    problems = [
        _("“%(value)s” is not a date.") % {"value": values[k]}
        for k, parsed in (("since", since), ("until", until))
        if values[k] and parsed is None
    ]
    events = selectors.events(
        actor(request),
        username=values["username"] or None,
        action=values["action"] or None,
        path=values["path"] or None,
        since=since,
        until=until,
    )
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = {k: v for k, v in values.items() if v}
    api_query = {
        k: v
        for k, v in (
            ("username", values["username"]),
            ("action", values["action"]),
            ("path", values["path"]),
        )
        if v
    }
    if since is not None:
        api_query["since"] = since.isoformat()
    if until is not None:
        api_query["until"] = until.isoformat()
    return render(
        request,
        "web/audit.html",
        {
            "page": page,
            "filters": values,
            "problems": problems,
            "query": urlencode(query),
            "csv_url": "/api/v1/audit.csv" + ("?" + urlencode(api_query) if api_query else ""),
        },
    )
