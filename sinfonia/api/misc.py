"""The project-identifier scheme and other small reference endpoints."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS, ListQuery
from sinfonia.api.schemas import PageOut
from sinfonia.resources import identifiers, selectors

router = Router()


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
