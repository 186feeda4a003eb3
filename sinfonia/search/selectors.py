"""Search: the one implementation behind the REST API, the command line and the portal.

`search` parses the query (`syntax`), turns its criteria into one database query over the
tree, restricted inside that query to what the actor may read (`access.condition`), and
returns one page of hits, each with what matched. Counts are of visible elements only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import Length

from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid
from sinfonia.dicom.models import Instance
from sinfonia.resources import access
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.search import backends, syntax
from sinfonia.search.backends.base import COLUMNS, Sql
from sinfonia.search.criteria import (
    Context,
    Criterion,
    DicomCriterion,
    Found,
    KindCriterion,
    TextCriterion,
)
from sinfonia.search.errors import SearchError
from sinfonia.search.explain import Match

SORTS = ("relevance", "name", "size", "created", "updated")
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Hit:
    node: Node
    path: str
    matches: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class Results:
    query: str
    items: list[Hit]
    total: int
    offset: int
    limit: int
    sort: str  # the order applied: "relevance" only when the query has words to rank by
    descending: bool


def search(
    actor: Actor,
    text: str,
    *,
    sort: str = "",
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> Results:
    """One page of the elements ``actor`` may read that match every criterion of ``text``.

    ``sort``: ``relevance`` (the default when the query has words: best first, ``descending``
    ignored), ``name`` (the default otherwise), ``size``, ``created`` or ``updated``.
    Elements in recycle bins are never found. A fileset that only wraps one file of its own
    name (what an upload into a folder makes) is not a hit of its own when that file is one:
    the file stands for both. Raises `Invalid` for a malformed query or sort.
    """
    if sort and sort not in SORTS:
        raise Invalid(SearchError.BAD_SORT, f"Sort by one of: {', '.join(SORTS)} (not {sort!r}).")
    query = syntax.parse(text)
    ctx = Context(actor, backends.current())
    words = [c for c in query.criteria if isinstance(c, TextCriterion) and not c.negated]
    if not sort or (sort == "relevance" and not words):
        sort = "relevance" if words else "name"
    # Searches by words alone (the commonest) count and order their hits on the backend's
    # narrow copy of the node rows (docs/decisions/0005).
    narrow = None
    if sort in ("relevance", "name") and all(c.text_only for c in query.criteria):
        narrow = ctx.backend.text_rows()
    matching = condition(query.criteria, ctx)
    qs: QuerySet[Any] = Node.objects.all() if narrow is None else narrow
    qs = qs.filter(matching, in_trash=False)  # never in recycle bins
    qs = qs.filter(access.condition(actor, Level.READ))
    if _twins_possible(query.criteria):
        if ctx.backend.vendor == "sqlite" and _all_text(query.criteria):
            # SQLite asks the full-text index again for every row of a correlated subquery:
            # the twin is checked against the same words with LIKE on its own folded text.
            twin_matching = _text_by_like(query.criteria, ctx)
            qs = qs.exclude(_wrapper_asked_per_fileset(twin_matching))
        else:
            qs = qs.exclude(_wrapper_of_a_hit(matching, per_fileset=narrow is not None))
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    # One pass: the page's ids in order, each row carrying the count of all hits. Whole rows
    # are read for the page only (sorting narrow rows is what keeps big hit lists fast).
    ordered = _ordered(qs, sort, descending, words).annotate(hits=Window(Count("*")))
    with ctx.backend.session():
        rows = list(ordered.values_list("pk", "hits")[offset : offset + limit])
        total = rows[0][1] if rows else (qs.count() if offset else 0)
    by_id = Node.objects.select_related("creator").in_bulk([pk for pk, _ in rows])
    items = [by_id[pk] for pk, _ in rows]
    found = _found(items, query.criteria)
    positive = [c for c in query.criteria if not c.negated]
    hits = [
        Hit(node, found.paths[node.id], tuple(m for c in positive for m in c.explain(node, found)))
        for node in items
    ]
    return Results(
        query=text,
        items=hits,
        total=total,
        offset=offset,
        limit=limit,
        sort=sort,
        descending=descending and sort != "relevance",
    )


def condition(criteria: tuple[Criterion, ...], ctx: Context) -> Q:
    """All ``criteria`` as one condition on `Node`.

    The words of all positive criteria go to the full-text index in one lookup, and all
    positive DICOM criteria become one subquery on the DICOM index; the rest is checked on
    the nodes those leave. Negated criteria are each their own ``NOT``."""
    positive = [c for c in criteria if not c.negated]
    result = Q()
    words = [clause for c in positive for clause in c.clauses()]
    if words:
        result &= ctx.backend.text_match(words)
    dicom = [c for c in positive if isinstance(c, DicomCriterion)]
    if dicom:
        rows = Instance.objects.filter(*(c.instance_condition(ctx) for c in dicom))
        result &= Q(pk__in=rows.values("file_id"))
    for criterion in criteria:
        if criterion.negated:
            result &= ~criterion.condition(ctx)
        elif not isinstance(criterion, DicomCriterion):
            result &= criterion.exact(ctx)
    return result


def _all_text(criteria: tuple[Criterion, ...]) -> bool:
    """Whether every criterion's words are in names and descriptions only (``text_only``)."""
    return all(
        c.text_only and all(set(k.columns) <= {"name", "description"} for k in c.clauses())
        for c in criteria
    )


def _text_by_like(criteria: tuple[Criterion, ...], ctx: Context) -> Q:
    """The condition of text-only ``criteria`` as LIKE patterns on a node's own folded
    columns instead of the full-text index: the same answer for one row, since folded text
    is lower-case words separated by single spaces (docs/decisions/0005)."""
    result = Q()
    for criterion in criteria:
        condition = criterion.exact(ctx)
        for clause in criterion.clauses():
            phrase = clause.phrase
            pattern = f"% {phrase.text}%" if phrase.prefix else f"% {phrase.text} %"
            anywhere = Q()
            for column in clause.columns:
                anywhere |= Q(
                    Sql(COLUMNS[column], "(' ' || {col} || ' ') LIKE %s", [pattern], BooleanField())
                )
            condition &= anywhere
        result &= ~condition if criterion.negated else condition
    return result


def _twins_possible(criteria: tuple[Criterion, ...]) -> bool:
    """Whether both a fileset and a file may be hits: not when a criterion holds for files
    only (the DICOM index) or for one of the two kinds only (then nothing is to collapse)."""
    for c in criteria:
        if c.negated:
            continue
        if isinstance(c, DicomCriterion):
            return False
        if isinstance(c, KindCriterion) and not {Kind.FILE, Kind.FILESET} <= set(c.kinds):
            return False
    return True


def _wrapper_of_a_hit(matching: Q, *, per_fileset: bool) -> Q:
    """Filesets whose only live child is a file of the fileset's name that is ``matching``
    too: one element to the user, so found once (as the file). (A file shares its fileset's
    access list: where the fileset is a hit, so is such a file.)

    One subquery over the matching files, or (``per_fileset``: for searches on the narrow
    copy, which the subquery would undo by re-reading every file hit from the node table)
    a question asked of each fileset hit."""
    if per_fileset:
        return _wrapper_asked_per_fileset(matching)
    siblings = Node.objects.filter(parent_id=OuterRef("parent_id"), in_trash=False).exclude(
        pk=OuterRef("pk")
    )
    twins = (
        Node.objects.filter(matching, in_trash=False, kind=Kind.FILE)
        .filter(parent__kind=Kind.FILESET, parent__name=F("name"))
        .exclude(Exists(siblings))
    )
    return Q(kind=Kind.FILESET, pk__in=twins.values("parent_id"))


def _wrapper_asked_per_fileset(matching: Q) -> Q:
    """The same, asked of each fileset among the hits (few): its child of the same sort name
    is one step down the children index, and only that child is checked against
    ``matching``, the exact name and its siblings. (The subquery over all files re-reads
    every file hit: a word in 20,000 file names, 20,000 rows a second time.)"""
    siblings = Node.objects.filter(parent_id=OuterRef("parent_id"), in_trash=False).exclude(
        pk=OuterRef("pk")
    )
    twin = (
        Node.objects.filter(
            parent_id=OuterRef("pk"),
            kind=Kind.FILE,
            in_trash=False,
            sort_name=OuterRef("sort_name"),
        )
        .filter(matching, parent__name=F("name"))
        .exclude(Exists(siblings))
        # Never true (a node is not its own child), but not an equality either: it keeps
        # PostgreSQL from hashing the subquery over every file hit instead of asking it.
        .exclude(pk=OuterRef("pk"))
    )
    return Q(kind=Kind.FILESET) & Q(Exists(twin))


def _relevance(words: list[TextCriterion]) -> Expression:
    """Per word (or phrase) of names: 4 when it is a whole word of the name, 2 when a word of
    the name starts with it, else 1 (it is in the description). The same arithmetic on every
    backend, over the rows that matched only, and from the name alone."""
    score: Expression = Value(0)
    for word in words:
        if "name" not in word.columns:
            continue
        text = word.phrase.text
        score = score + Case(
            When(Q(_name_like(f"% {text} %")), then=Value(4)),
            When(Q(_name_like(f"% {text}%")), then=Value(2)),
            default=Value(1),
            output_field=IntegerField(),
        )
    return score


def _name_like(pattern: str) -> Sql:
    # Folded names hold letters, digits and single spaces only: no LIKE wildcards to escape.
    return Sql("search_name", "(' ' || {col} || ' ') LIKE %s", [pattern], BooleanField())


def _ordered(
    qs: QuerySet[Any], sort: str, descending: bool, words: list[TextCriterion]
) -> QuerySet[Any]:
    if sort == "relevance":
        qs = qs.annotate(score=_relevance(words), name_length=Length("search_name"))
        return qs.order_by("-score", "name_length", "sort_name", "id")
    keys = {
        "name": ("sort_name", "id"),
        "size": ("size", "sort_name", "id"),
        "created": ("created_at", "id"),
        "updated": ("updated_at", "id"),
    }[sort]
    return qs.order_by(*(f"-{k}" if descending else k for k in keys))


def _found(items: list[Node], criteria: tuple[Criterion, ...]) -> Found:
    found = Found()
    ancestors = {i for node in items for i in node.ancestor_ids}
    names = dict(Node.objects.filter(pk__in=ancestors).values_list("id", "name"))
    for node in items:
        parts = [names.get(i, "?") for i in node.ancestor_ids]
        found.paths[node.id] = "/" + "/".join([*parts, node.name])
    if any(isinstance(c, DicomCriterion) and not c.negated for c in criteria):
        rows = Instance.objects.filter(file_id__in=[n.id for n in items]).select_related(
            "series__study__patient"
        )
        found.instances = {row.file_id: row for row in rows}
    return found
