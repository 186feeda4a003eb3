"""`sinfonia search QUERY`: the search service on the command line (same results as the API)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parser is built before Django is set up
    from sinfonia.core.context import Actor
    from sinfonia.search.explain import Match
    from sinfonia.search.selectors import Results


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "search",
        parents=parents,
        help="search names, descriptions, identifiers, metadata and DICOM attributes",
        description="Quote the whole query; put -- before a query that starts with '-'. "
        "Syntax: docs/api.md, section Search.",
    )
    s.add_argument(
        "query",
        nargs="+",
        metavar="QUERY",
        help="e.g. 'modality:RTDOSE studydate:2020 -name:draft meta.site:\"Łódź*\"'",
    )
    s.add_argument("--limit", type=int, default=20, help="hits per page (default 20)")
    s.add_argument("--offset", type=int, default=0, help="skip this many hits")
    s.add_argument("--sort", default="", help="relevance, name, size, created or updated")
    s.add_argument("--desc", action="store_true", help="descending order")
    s.add_argument("--json", action="store_true", help="print the page as JSON")


def _marked(match: Match) -> str:
    """The value with its highlighted words in [brackets]."""
    text, out, at = match.value, [], 0
    for start, end in match.highlights:
        out += [text[at:start], "[", text[start:end], "]"]
        at = end
    out.append(text[at:])
    return "".join(out)


def do_search(actor: Actor, args: argparse.Namespace) -> int:
    from sinfonia.resources.models import Kind
    from sinfonia.search import selectors

    results = selectors.search(
        actor,
        " ".join(args.query),
        sort=args.sort,
        descending=args.desc,
        offset=args.offset,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps(_as_json(results), ensure_ascii=False, indent=2))
        return 0
    for hit in results.items:
        node = hit.node
        size = f", {node.size:,} bytes" if node.kind == Kind.FILE else ""
        reasons = "; ".join(f"{m.field}: {_marked(m)}" for m in hit.matches)
        print(f"{hit.path}\t({node.kind_name}{size})\t{reasons}")
    shown = len(results.items)
    first = results.offset + 1 if shown else results.offset
    order = results.sort + (" descending" if results.descending else "")
    print(f"{first}-{results.offset + shown} of {results.total} (by {order})")
    return 0


def _as_json(results: Results) -> dict[str, Any]:
    return {
        "query": results.query,
        "total": results.total,
        "offset": results.offset,
        "limit": results.limit,
        "sort": results.sort,
        "order": "desc" if results.descending else "asc",
        "items": [
            {
                "id": hit.node.id,
                "kind": hit.node.kind_name,
                "name": hit.node.name,
                "path": hit.path,
                "size": hit.node.size,
                "mime_type": hit.node.mime_type,
                "sinfonia_id": hit.node.sinfonia_id,
                "created_at": hit.node.created_at.isoformat(),
                "updated_at": hit.node.updated_at.isoformat(),
                "matches": [
                    {
                        "criterion": m.criterion,
                        "field": m.field,
                        "value": m.value,
                        "highlights": [list(h) for h in m.highlights],
                    }
                    for m in hit.matches
                ],
            }
            for hit in results.items
        ],
    }
