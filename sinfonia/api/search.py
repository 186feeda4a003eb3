"""Search over the tree and the DICOM index (docs/api.md, "Search")."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS
from sinfonia.api.schemas import NodeOut
from sinfonia.core.errors import Invalid
from sinfonia.search import reference, selectors
from sinfonia.search.errors import SearchError

router = Router(tags=["search"])


class SearchQuery(Schema):
    q: str = Field(
        ...,
        description='The query, e.g. `modality:RTDOSE studydate:2020 -name:draft "chest ct"`; '
        "see `/search/fields` and docs/api.md.",
    )
    sort: str = Field(
        "", description="relevance (default with words), name, size, created, updated"
    )
    order: str = Field("asc", description="asc or desc (relevance is always best first)")
    offset: int = Field(0, ge=0, le=2**31 - 1)
    limit: int = Field(50, ge=1, le=selectors.MAX_LIMIT)


class MatchOut(Schema):
    criterion: str = Field(description="the term of the query, as typed")
    field: str = Field(description="name, description, sinfonia_id.partner, meta.key, Modality...")
    value: str = Field(description="the field's value (an excerpt of a description)")
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) character ranges of the matching words within value"
    )


class HitOut(NodeOut):
    path: str
    matches: list[MatchOut]


class SearchOut(Schema):
    query: str
    items: list[HitOut]
    total: int = Field(description="matching elements you may see")
    offset: int
    limit: int
    sort: str = Field(description="the order applied")
    order: str


class FieldOut(Schema):
    field: str
    example: str
    meaning: str


@router.get(
    "/search",
    response={200: SearchOut, **ERRORS},
    summary="Search names, descriptions, identifiers, metadata and DICOM attributes",
)
def search(request: HttpRequest, params: Query[SearchQuery]) -> dict[str, Any]:
    """Every criterion must hold; `-` negates one. Only elements you may read are found and
    counted. Each hit says which criteria matched, in which field, and where."""
    if params.order not in ("asc", "desc"):
        raise Invalid(SearchError.BAD_SORT, f"order is asc or desc, not {params.order!r}.")
    results = selectors.search(
        actor(request),
        params.q,
        sort=params.sort,
        descending=params.order == "desc",
        offset=params.offset,
        limit=params.limit,
    )
    items = []
    for hit in results.items:
        item = NodeOut.of(hit.node)
        item["path"] = hit.path
        item["matches"] = [
            {
                "criterion": m.criterion,
                "field": m.field,
                "value": m.value,
                "highlights": list(m.highlights),
            }
            for m in hit.matches
        ]
        items.append(item)
    return {
        "query": results.query,
        "items": items,
        "total": results.total,
        "offset": results.offset,
        "limit": results.limit,
        "sort": results.sort,
        "order": "desc" if results.descending else "asc",
    }


@router.get(
    "/search/fields",
    response=list[FieldOut],
    summary="The fields of the search language, with examples (for search forms)",
)
def fields(request: HttpRequest) -> list[dict[str, str]]:
    return [
        {"field": f.field, "example": f.example, "meaning": f.meaning} for f in reference.FIELD_HELP
    ]
