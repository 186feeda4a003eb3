"""Search criteria: what each one asks of the database, and how it explains a hit.

A criterion yields a condition on `Node` (or, for DICOM criteria, on `dicom.Instance`; the
selector turns those into one subquery). Conditions are portable Django; where the database
matters they call the backend (full text, JSON members, subtree ranges). A negated criterion
is the negation of its condition, so every condition here is never NULL: ``NOT NULL`` would
drop rows that lack a value instead of keeping them.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from django.db.models import (
    BooleanField,
    Case,
    Expression,
    F,
    Q,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Regex,
)

from sinfonia.core.context import Actor
from sinfonia.core.errors import NotFound
from sinfonia.dicom import query as dicom_query
from sinfonia.dicom.models import Instance
from sinfonia.resources import selectors as tree
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.search import values
from sinfonia.search.backends import Backend, Phrase, TextClause
from sinfonia.search.explain import Match, phrase_hits, snippet

NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "UV", "SV"})


@dataclass(frozen=True, slots=True)
class Context:
    actor: Actor
    backend: Backend


@dataclass(slots=True)
class Found:
    """What the explanations of one page of hits need, fetched once for the page."""

    instances: dict[int, Instance] = field(default_factory=dict)
    paths: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Criterion(ABC):
    raw: str  # the term as typed, for the hit explanations
    negated: bool
    # The condition reads only names, descriptions and the sort name: a search made of
    # such criteria may run on the backend's narrow rows (`Backend.text_rows`).
    text_only: ClassVar[bool] = False

    def clauses(self) -> tuple[TextClause, ...]:
        """Words the full-text index must hold for a node to qualify. The selector looks up
        the words of all positive criteria at once, then checks `exact` on what is left."""
        return ()

    def exact(self, ctx: Context) -> Q:
        """The rest of the condition, checked on the nodes the words leave."""
        return Q()

    def condition(self, ctx: Context) -> Q:
        """Nodes that satisfy the criterion: its words and the rest (negation takes this)."""
        clauses = self.clauses()
        words = ctx.backend.text_match(clauses) if clauses else Q()
        return words & self.exact(ctx)

    def explain(self, node: Node, found: Found) -> list[Match]:
        """What in ``node`` satisfied the criterion (never called for negated ones)."""
        return []


def definite(condition: Q) -> Q:
    """``condition`` as TRUE or FALSE, never NULL (comparisons with absent JSON members)."""
    return Q(
        Case(
            When(condition, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


def bounded(expression: Expression | F, bounds: values.Bounds[Any]) -> Q:
    condition = Q()
    if bounds.low is not None:
        cls = GreaterThan if bounds.low_strict else GreaterThanOrEqual
        condition &= Q(cls(expression, bounds.low))
    if bounds.high is not None:
        cls_high = LessThanOrEqual if bounds.high_inclusive else LessThan
        condition &= Q(cls_high(expression, bounds.high))
    return condition


def text_value_condition(expression: Expression | F, value: str) -> Q:
    """Equality in any letter case, or a match with ``*``/``?`` wildcards, on a text value."""
    text = Coalesce(expression, Value(""), output_field=TextField())
    return Q(Regex(text, f"^{values.caseless_regex(value)}$"))


def _display(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# -- names and descriptions -------------------------------------------------------------------


@dataclass(frozen=True)
class TextCriterion(Criterion):
    """Words (a phrase, the last word maybe a prefix) in names and/or descriptions."""

    columns: tuple[str, ...]  # name and/or description
    phrase: Phrase
    text_only: ClassVar[bool] = True

    def clauses(self) -> tuple[TextClause, ...]:
        return (TextClause(self.columns, self.phrase),)

    def explain(self, node: Node, found: Found) -> list[Match]:
        out = []
        if "name" in self.columns:
            spans = phrase_hits(node.name, self.phrase)
            if spans:
                out.append(Match(self.raw, "name", node.name, tuple(spans)))
        if "description" in self.columns:
            spans = phrase_hits(node.description, self.phrase)
            if spans:
                text, shifted = snippet(node.description, spans)
                out.append(Match(self.raw, "description", text, shifted))
        return out


@dataclass(frozen=True)
class NamePatternCriterion(Criterion):
    """A substring of the (folded) name, with ``*``/``?`` wildcards: a LIKE pattern, which
    PostgreSQL answers from a trigram index and SQLite by reading every name."""

    pattern: str  # LIKE pattern over the folded name

    def exact(self, ctx: Context) -> Q:
        return ctx.backend.like("search_name", self.pattern)

    def explain(self, node: Node, found: Found) -> list[Match]:
        return [Match(self.raw, "name", node.name)]


# -- project identifiers ----------------------------------------------------------------------


@dataclass(frozen=True)
class IdCriterion(Criterion):
    """The whole identifier or one of its components (``component`` None: any of them).

    The full-text index of the identifier's tokens narrows the rows; the exact comparison
    then runs on those few only."""

    component: str | None
    value: str
    components: tuple[str, ...]  # the scheme's keys
    narrow: Phrase | None

    def clauses(self) -> tuple[TextClause, ...]:
        return (TextClause(("ids",), self.narrow),) if self.narrow else ()

    def exact(self, ctx: Context) -> Q:
        keys = (self.component,) if self.component else self.components
        exact = Q()
        if self.component is None:
            exact |= text_value_condition(F("sinfonia_id"), self.value)
        for key in keys:
            exact |= text_value_condition(
                ctx.backend.json_text("sinfonia_id_parts", key), self.value
            )
        return definite(exact)

    def explain(self, node: Node, found: Found) -> list[Match]:
        if self.component is None:
            return [Match(self.raw, "sinfonia_id", node.sinfonia_id)]
        value = node.sinfonia_id_parts.get(self.component, "")
        return [Match(self.raw, f"sinfonia_id.{self.component}", str(value))]


# -- metadata ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetaCriterion(Criterion):
    """A metadata key: present (``*``), equal (in any letter case), a wildcard pattern, or a
    number in a range. The folded metadata's index narrows the rows (the key's words, and
    the value's up to a wildcard, all present); the exact comparison runs on those only."""

    key: str
    value: str
    narrow: tuple[Phrase, ...]  # words that the folded metadata must hold (search_meta)

    def clauses(self) -> tuple[TextClause, ...]:
        return tuple(TextClause(("meta",), phrase) for phrase in self.narrow)

    def exact(self, ctx: Context) -> Q:
        backend = ctx.backend
        if self.value == "*":
            return backend.json_has("meta", self.key)
        if values.is_comparison(self.value):
            bounds = values.comparison(self.value, values.number, "numbers")
            exact = bounded(backend.json_number("meta", self.key), bounds)
        else:
            exact = text_value_condition(backend.json_text("meta", self.key), self.value)
        return definite(exact)

    def explain(self, node: Node, found: Found) -> list[Match]:
        if self.key not in node.meta:
            return []
        return [Match(self.raw, f"meta.{self.key}", _display(node.meta[self.key]))]


# -- plain columns of the element -------------------------------------------------------------


@dataclass(frozen=True)
class KindCriterion(Criterion):
    kinds: tuple[Kind, ...]

    def exact(self, ctx: Context) -> Q:
        return Q(kind__in=self.kinds)

    def explain(self, node: Node, found: Found) -> list[Match]:
        return [Match(self.raw, "kind", node.kind_name)]


@dataclass(frozen=True)
class MimeCriterion(Criterion):
    """Files of these MIME ``types`` or type families (``prefixes``, "image/")."""

    types: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    def exact(self, ctx: Context) -> Q:
        condition = Q(mime_type__in=self.types) if self.types else Q(pk__in=[])
        for prefix in self.prefixes:
            condition |= Q(mime_type__startswith=prefix)
        return Q(kind=Kind.FILE) & condition

    def explain(self, node: Node, found: Found) -> list[Match]:
        return [Match(self.raw, "mime_type", node.mime_type)]


@dataclass(frozen=True)
class ExtensionCriterion(Criterion):
    """Names ending in ``.ext`` (the last word of the name narrows through the index)."""

    extension: str
    narrow: Phrase
    text_only: ClassVar[bool] = True

    def clauses(self) -> tuple[TextClause, ...]:
        return (TextClause(("name",), self.narrow),)

    def exact(self, ctx: Context) -> Q:
        return Q(sort_name__endswith="." + self.extension.casefold())

    def explain(self, node: Node, found: Found) -> list[Match]:
        start = len(node.name) - len(self.extension)
        return [Match(self.raw, "name", node.name, ((start, len(node.name)),))]


@dataclass(frozen=True)
class SizeCriterion(Criterion):
    bounds: values.Bounds[int]

    def exact(self, ctx: Context) -> Q:
        return Q(kind=Kind.FILE) & bounded(F("size"), self.bounds)

    def explain(self, node: Node, found: Found) -> list[Match]:
        return [Match(self.raw, "size", str(node.size))]


@dataclass(frozen=True)
class DateCriterion(Criterion):
    column: str  # created_at or updated_at
    start: date | None
    end: date | None  # exclusive

    def exact(self, ctx: Context) -> Q:
        condition = Q()
        if self.start is not None:
            condition &= Q(**{f"{self.column}__gte": values.moment(self.start)})
        if self.end is not None:
            condition &= Q(**{f"{self.column}__lt": values.moment(self.end)})
        return condition

    def explain(self, node: Node, found: Found) -> list[Match]:
        return [Match(self.raw, self.column, getattr(node, self.column).isoformat())]


@dataclass(frozen=True)
class PresenceCriterion(Criterion):
    """``has:description``, ``has:id``: a non-empty column."""

    column: str

    def exact(self, ctx: Context) -> Q:
        return ~Q(**{self.column: ""})

    def explain(self, node: Node, found: Found) -> list[Match]:
        text = str(getattr(node, self.column))
        return [Match(self.raw, self.column, text if len(text) <= 200 else text[:200] + "…")]


@dataclass(frozen=True)
class UnderCriterion(Criterion):
    """Below a folder or collection, given by path or id; it must be readable."""

    location: str

    def _place(self, actor: Actor) -> Node:
        try:
            if self.location.isdigit():
                return tree.get_node(actor, int(self.location), Level.READ)
            return tree.lookup(actor, self.location)
        except NotFound:
            raise values.bad(f"under: nothing at {self.location!r} that you may see.") from None

    def exact(self, ctx: Context) -> Q:
        return ctx.backend.subtree(self._place(ctx.actor).subtree_prefix)

    def explain(self, node: Node, found: Found) -> list[Match]:
        return [Match(self.raw, "location", self.location)]


# -- DICOM ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DicomCriterion(Criterion):
    """A condition on the file's row in the DICOM index (`dicom.Instance`)."""

    def exact(self, ctx: Context) -> Q:
        return Q(pk__in=Instance.objects.filter(self.instance_condition(ctx)).values("file_id"))

    @abstractmethod
    def instance_condition(self, ctx: Context) -> Q:
        """The condition on `Instance` rows."""


@dataclass(frozen=True)
class IsDicomCriterion(DicomCriterion):
    """``type:dicom``: files in the DICOM index."""

    def instance_condition(self, ctx: Context) -> Q:
        return Q()

    def explain(self, node: Node, found: Found) -> list[Match]:
        instance = found.instances.get(node.id)
        uid = instance.sop_instance_uid if instance is not None else ""
        return [Match(self.raw, "SOPInstanceUID", uid)]


@dataclass(frozen=True)
class DicomAttributeCriterion(DicomCriterion):
    """An attribute that the index keeps as a column (`dicom.query.ATTRIBUTES`), matched with
    the QIDO-RS / C-FIND rules of `dicom.query.match` (PS3.4 C.2.2.2)."""

    keyword: str
    value: str

    @property
    def attribute(self) -> dicom_query.Attribute:
        return dicom_query.ATTRIBUTES[self.keyword]

    @property
    def path(self) -> str:
        attr = self.attribute
        return dicom_query.PATHS[("instance", attr.level)] + attr.field

    def instance_condition(self, ctx: Context) -> Q:
        attr, path, value = self.attribute, self.path, self.value
        if value == "*":
            return Q(**{f"{path}__isnull": False}) & ~Q(**{path: ""})
        if attr.vr == "DA":
            return dicom_query.match(path, "DA", values.dicom_date_range(value))
        if attr.vr == "IS":
            bounds = values.comparison(value, _integer, "numbers")
            return bounded(F(path), bounds)
        if attr.vr == "CS":  # code strings are upper case (PS3.5 6.2)
            return dicom_query.match(path, "CS", value.upper())
        if attr.vr in ("UI", "TM"):
            return dicom_query.match(path, attr.vr, value)
        return dicom_query.match(path, attr.vr, value, fuzzy=True)

    def explain(self, node: Node, found: Found) -> list[Match]:
        instance = found.instances.get(node.id)
        if instance is None:
            return []
        value: Any = instance
        for step in self.path.split("__"):
            value = getattr(value, step, None)
        return [Match(self.raw, self.keyword, "" if value is None else str(value))]


def _integer(text: str) -> int:
    number = values.number(text)
    if number != int(number):
        raise values.bad(f"{text!r} is not a whole number.")
    return int(number)


@dataclass(frozen=True)
class DicomTagCriterion(DicomCriterion):
    """Any top-level attribute of the stored header (DICOM JSON, PS3.18 F.2): present, equal
    to one of its values, a wildcard pattern, or a range for dates and numbers."""

    tag: str  # "00181030"
    keyword: str  # "" for private or unknown tags
    vr: str  # "" when unknown
    value: str  # "*" for "present"

    @property
    def label(self) -> str:
        text = f"({self.tag[:4]},{self.tag[4:]})"
        return f"{text} {self.keyword}" if self.keyword else text

    def instance_condition(self, ctx: Context) -> Q:
        backend, value = ctx.backend, self.value
        if value == "*":
            return backend.json_has("header", self.tag)
        if self.vr in ("DA", "DT") and (values.is_comparison(value) or value[:1].isdigit()):
            low, _, high = values.dicom_date_range(value).partition("-")
            first = Coalesce(
                backend.dicom_first_text(self.tag), Value(""), output_field=TextField()
            )
            condition = Q(GreaterThanOrEqual(first, low)) if low else ~Q(Exact(first, ""))
            if high:
                condition &= Q(LessThanOrEqual(first, high + "\uffff"))
            return condition
        if self.vr in NUMERIC_VRS and not values.has_wildcard(value):
            bounds = values.comparison(value, values.number, "numbers")
            return definite(bounded(backend.dicom_first_number(self.tag), bounds))
        joined = Coalesce(backend.dicom_values(self.tag), Value(""), output_field=TextField())
        one = values.caseless_regex(value)  # any one of the values, which "\\" separates
        return Q(Regex(joined, f"(^|\\\\){one}(\\\\|$)"))

    def explain(self, node: Node, found: Found) -> list[Match]:
        instance = found.instances.get(node.id)
        if instance is None:
            return []
        element = instance.header.get(self.tag) or {}
        shown = []
        for item in element.get("Value") or []:
            shown.append(item.get("Alphabetic", "") if isinstance(item, dict) else _display(item))
        return [Match(self.raw, self.label, "\\".join(shown))]
