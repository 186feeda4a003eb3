"""The search query language (docs/api.md, "Search"): text in, criteria out.

A query is terms separated by spaces; every term must hold (AND). ``-`` before a term negates
it. A term is free text (``thorax``, ``lod*``, ``"chest ct"``, ``*scan*``) or ``field:value``
(``modality:RTDOSE``, ``size:>10MB``, ``meta.scanner:Siemens``, ``-name:draft``). Double
quotes keep spaces (and ``*``) in a value: ``meta.site:"Łódź Hospital"``,
``meta."scanner model":X``; ``\\"`` is a quote inside quotes.

Malformed queries raise `Invalid` with the term and its position, never a server error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, keyword_dict, keyword_for_tag

from sinfonia.core.errors import Invalid
from sinfonia.core.textfold import fold_char, tokens
from sinfonia.dicom import query as dicom_query
from sinfonia.resources import identifiers
from sinfonia.resources.models import Kind
from sinfonia.search import criteria as c
from sinfonia.search import values
from sinfonia.search.backends import Phrase
from sinfonia.search.errors import SearchError

MAX_QUERY = 2000  # characters
MAX_TERMS = 32


@dataclass(frozen=True, slots=True)
class Term:
    """One term as typed: ``-field:value``. ``literal``: the whole value was quoted."""

    text: str
    position: int  # 1-based character position in the query
    negated: bool
    field: str | None
    value: str
    literal: bool


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    criteria: tuple[c.Criterion, ...]


def _bad(message: str, term: Term | None = None) -> Invalid:
    where = f" (term {term.text!r} at character {term.position})" if term else ""
    return Invalid(SearchError.BAD_QUERY, message + where)


# -- lexing -----------------------------------------------------------------------------------


def lex(text: str) -> list[Term]:
    """Split ``text`` into terms, honouring double quotes."""
    terms = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        chars: list[tuple[str, bool]] = []  # (character, was quoted)
        while i < n and not text[i].isspace():
            if text[i] != '"':
                chars.append((text[i], False))
                i += 1
                continue
            i += 1
            while True:
                if i >= n:
                    raise Invalid(
                        SearchError.BAD_QUERY,
                        f"A quote opened at character {start + 1} is never closed.",
                    )
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    chars.append((text[i + 1], True))
                    i += 2
                elif text[i] == '"':
                    i += 1
                    break
                else:
                    chars.append((text[i], True))
                    i += 1
        terms.append(_term(text[start:i], start + 1, chars))
    return terms


def _term(raw: str, position: int, chars: list[tuple[str, bool]]) -> Term:
    negated = bool(chars) and chars[0] == ("-", False)
    if negated:
        chars = chars[1:]
        if not chars:
            raise Invalid(
                SearchError.BAD_QUERY,
                f"A lone '-' at character {position}: put it right before a term to exclude.",
            )
    colon = next((k for k, (ch, quoted) in enumerate(chars) if ch == ":" and not quoted), None)
    field_chars = chars[:colon] if colon is not None else []
    # A field name starts with a letter; "12:30" is free text.
    if colon is None or not field_chars or not field_chars[0][0].isalpha():
        value = "".join(ch for ch, _ in chars)
        return Term(raw, position, negated, None, value, all(q for _, q in chars))
    field_name = "".join(ch for ch, _ in field_chars)
    rest = chars[colon + 1 :]
    value = "".join(ch for ch, _ in rest)
    literal = bool(rest) and all(q for _, q in rest)
    return Term(raw, position, negated, field_name, value, literal)


# -- terms to criteria ------------------------------------------------------------------------


def parse(text: str) -> Query:
    """The criteria of a query (raises `Invalid` for malformed or empty ones)."""
    if len(text) > MAX_QUERY:
        raise Invalid(SearchError.BAD_QUERY, f"A query has at most {MAX_QUERY} characters.")
    terms = lex(text)
    if not terms:
        raise Invalid(
            SearchError.EMPTY_QUERY, "Give at least one search term, e.g. thorax or type:pdf."
        )
    if len(terms) > MAX_TERMS:
        raise Invalid(SearchError.BAD_QUERY, f"A query has at most {MAX_TERMS} terms.")
    return Query(text=text, criteria=tuple(criterion(term) for term in terms))


def criterion(term: Term) -> c.Criterion:
    try:
        if term.field is None:
            return _free_text(term)
        if term.value == "" and term.field.lower() != "has":
            raise _bad(f"{term.field}: needs a value after the colon.", term)
        name = term.field.lower()
        if name in FIELDS:
            return FIELDS[name](term)
        for prefix, build in PREFIXED.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return build(term, term.field[len(prefix) :])
        if name in DICOM_ALIASES:
            return _dicom(term, DICOM_ALIASES[name], term.value)
        keyword = dicom_keyword(term.field)
        if keyword is not None:
            return _dicom(term, keyword, term.value)
    except Invalid as exc:
        if "(term " in exc.message:
            raise
        raise Invalid(exc.code, f"{exc.message} (term {term.text!r})") from exc
    raise Invalid(
        SearchError.UNKNOWN_FIELD,
        f"Unknown search field {term.field!r} (term {term.text!r}). Fields: "
        f"{', '.join(FIELD_NAMES)}, id.<component>, meta.<key>, dicom.<Keyword> or a DICOM "
        "keyword such as modality or StudyDate.",
    )


def _text_phrase(term: Term, value: str) -> Phrase:
    prefix = value.endswith("*") and not term.literal
    words = tokens(value.rstrip("*") if prefix else value)
    if not words:
        raise _bad("There are no letters or digits to search for.", term)
    return Phrase(tuple(words), prefix=prefix)


def _is_pattern(term: Term) -> bool:
    """A wildcard other than one trailing ``*`` (which is a prefix search)."""
    if term.literal:
        return False
    body = term.value[:-1] if term.value.endswith("*") else term.value
    return values.has_wildcard(body)


def _name_pattern(term: Term) -> c.Criterion:
    # Fold the literal pieces the way names are folded; keep the wildcards.
    pieces = re.split(r"([*?])", term.value)
    out = []
    for piece in pieces:
        if piece in ("*", "?"):
            out.append("%" if piece == "*" else "_")
            continue
        folded = "".join(fold_char(ch) for ch in piece)
        folded = re.sub(" +", " ", folded)
        out.append(values.like_pattern(folded))
    pattern = "".join(out)
    if not any(ch.isalnum() for ch in pattern):
        raise _bad("A pattern needs at least one letter or digit.", term)
    return c.NamePatternCriterion(term.text, term.negated, "%" + pattern.strip("%") + "%")


def _free_text(term: Term) -> c.Criterion:
    if _is_pattern(term):
        return _name_pattern(term)
    return c.TextCriterion(
        term.text, term.negated, ("name", "description"), _text_phrase(term, term.value)
    )


def _name(term: Term) -> c.Criterion:
    if _is_pattern(term):
        return _name_pattern(term)
    return c.TextCriterion(term.text, term.negated, ("name",), _text_phrase(term, term.value))


def _description(term: Term) -> c.Criterion:
    if _is_pattern(term):
        raise _bad("Wildcards inside words work on names only; use desc:word or desc:pre*.", term)
    return c.TextCriterion(
        term.text, term.negated, ("description",), _text_phrase(term, term.value)
    )


def _id_narrowing(value: str) -> Phrase | None:
    """The words of a value up to its first wildcard, to narrow through the index."""
    head = re.split(r"[*?]", value, maxsplit=1)[0]
    words = tokens(head)
    if not words:
        return None
    open_end = len(head) < len(value) and head[-1:].isalnum()
    return Phrase(tuple(words), prefix=open_end)


def _id(term: Term, component: str | None = None) -> c.Criterion:
    scheme = identifiers.scheme()
    keys = (*(comp.key for comp in scheme.general), scheme.specific.key)
    if component is not None:
        matched = next((k for k in keys if k.lower() == component.lower()), None)
        if matched is None:
            raise Invalid(
                SearchError.UNKNOWN_FIELD,
                f"The {scheme.name} has no component {component!r}; "
                f"use one of: {', '.join(f'id.{k}' for k in keys)}.",
            )
        component = matched
    return c.IdCriterion(
        term.text, term.negated, component, term.value, keys, _id_narrowing(term.value)
    )


def _meta(term: Term, key: str) -> c.Criterion:
    if '"' in key:
        raise _bad("A metadata key in a search cannot contain a double quote.", term)
    words = [Phrase((word,)) for word in tokens(key)]
    value = term.value
    if value != "*" and not values.is_comparison(value):
        head = _id_narrowing(value)  # the value's words up to a wildcard
        if head is not None:
            *whole, last = head.tokens
            words += [Phrase((word,)) for word in whole]
            words.append(Phrase((last,), prefix=head.prefix))
    return c.MetaCriterion(term.text, term.negated, key, value, tuple(words))


KINDS = {
    "collection": Kind.COLLECTION,
    "folder": Kind.FOLDER,
    "fileset": Kind.FILESET,
    "file": Kind.FILE,
}


def _kind(term: Term) -> c.Criterion:
    wanted = []
    for word in term.value.lower().split(","):
        kind = KINDS.get(word.strip().removesuffix("s"))
        if kind is None:
            raise values.bad(f"kind: is one of {', '.join(KINDS)} (comma-separated), not {word!r}.")
        wanted.append(kind)
    return c.KindCriterion(term.text, term.negated, tuple(wanted))


# type: families of files. Values with a "/" are MIME types ("image/png", "image/*").
TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # name: (exact, prefixes)
    "image": ((), ("image/",)),
    "video": ((), ("video/",)),
    "audio": ((), ("audio/",)),
    "text": ((), ("text/",)),
    "pdf": (("application/pdf",), ()),
    "archive": (
        (
            "application/zip",
            "application/x-zip-compressed",
            "application/x-tar",
            "application/gzip",
            "application/x-gzip",
            "application/x-7z-compressed",
            "application/x-bzip2",
            "application/x-xz",
        ),
        (),
    ),
    "spreadsheet": (
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-excel",
            "application/vnd.oasis.opendocument.spreadsheet",
            "text/csv",
        ),
        (),
    ),
    "document": (
        (
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.oasis.opendocument.text",
            "application/rtf",
            "text/plain",
        ),
        (),
    ),
}
TYPE_NAMES = ("dicom", *TYPES, "zip", *KINDS)


def _type(term: Term) -> c.Criterion:
    value = term.value.strip().lower()
    if value == "dicom":
        return c.IsDicomCriterion(term.text, term.negated)
    if value.removesuffix("s") in KINDS:
        return c.KindCriterion(term.text, term.negated, (KINDS[value.removesuffix("s")],))
    if value == "zip":
        value = "archive"
    if value in TYPES:
        exact, prefixes = TYPES[value]
        return c.MimeCriterion(term.text, term.negated, exact, prefixes)
    if "/" in value:
        return _mime(term)
    raise values.bad(
        f"type: is one of {', '.join(TYPE_NAMES)}, or a MIME type such as image/png; "
        f"for a file name extension use ext:{value}."
    )


def _mime(term: Term) -> c.Criterion:
    value = term.value.strip().lower()
    if value.endswith("/*"):
        return c.MimeCriterion(term.text, term.negated, (), (value[:-1],))
    if values.has_wildcard(value) or "/" not in value:
        raise values.bad("mime: is a MIME type, like application/pdf, or a family, like image/*.")
    return c.MimeCriterion(term.text, term.negated, (value,), ())


def _extension(term: Term) -> c.Criterion:
    extension = term.value.strip().lstrip(".")
    words = tokens(extension)
    if not words or values.has_wildcard(extension):
        raise values.bad("ext: is a file name extension, like pdf or nii.gz.")
    return c.ExtensionCriterion(term.text, term.negated, extension, Phrase(tuple(words)))


def _size(term: Term) -> c.Criterion:
    return c.SizeCriterion(
        term.text, term.negated, values.comparison(term.value, values.size, "sizes")
    )


def _dates(column: str) -> Callable[[Term], c.Criterion]:
    def build(term: Term) -> c.Criterion:
        start, end = values.date_bounds(term.value)
        return c.DateCriterion(term.text, term.negated, column, start, end)

    return build


def _under(term: Term) -> c.Criterion:
    location = term.value.strip()
    if not location.isdigit() and not location.startswith("/"):
        raise values.bad("under: is a path like /Collection/Folder, or an element id.")
    return c.UnderCriterion(term.text, term.negated, location.rstrip("/") or "/")


def _has(term: Term) -> c.Criterion:
    what = term.value.strip()
    lowered = what.lower()
    if lowered in ("description", "desc"):
        return c.PresenceCriterion(term.text, term.negated, "description")
    if lowered == "id":
        return c.PresenceCriterion(term.text, term.negated, "sinfonia_id")
    if lowered.startswith("meta.") and len(what) > 5:
        return _meta(Term(term.text, term.position, term.negated, "meta", "*", False), what[5:])
    if not what:
        raise values.bad(
            "has: names what must be present: description, id, meta.<key> or a "
            "DICOM attribute (keyword or tag, e.g. has:0010,0030)."
        )
    tag, keyword = dicom_tag(what)
    return _header(term, tag, keyword, "*")


def _tag(term: Term) -> c.Criterion:
    spec, eq, value = term.value.partition("=")
    tag, keyword = dicom_tag(spec.strip())
    if not eq:
        value = "*"
    elif not value:
        raise values.bad("tag: needs a value after '=' (or leave out '=value' for 'present').")
    if keyword in dicom_query.ATTRIBUTES and value != "*":
        return _dicom(term, keyword, value)
    return _header(term, tag, keyword, value)


def _dicom_field(term: Term, keyword: str) -> c.Criterion:
    found = dicom_keyword(keyword)
    if found is None:
        raise Invalid(
            SearchError.UNKNOWN_FIELD,
            f"{keyword!r} is not a DICOM keyword (e.g. dicom.ProtocolName); "
            "for a tag number use tag:gggg,eeee=value.",
        )
    return _dicom(term, found, term.value)


def _dicom(term: Term, keyword: str, value: str) -> c.Criterion:
    if keyword in dicom_query.ATTRIBUTES:
        return c.DicomAttributeCriterion(term.text, term.negated, keyword, value)
    return _header(term, f"{keyword_dict[keyword]:08X}", keyword, value)


def _header(term: Term, tag: int | str, keyword: str, value: str) -> c.Criterion:
    number = int(tag, 16) if isinstance(tag, str) else tag
    try:
        vr = str(dictionary_VR(number)) if keyword else ""
    except KeyError:
        vr = ""
    return c.DicomTagCriterion(term.text, term.negated, f"{number:08X}", keyword, vr, value)


@functools.cache
def _keywords() -> dict[str, str]:
    return {keyword.lower(): keyword for keyword in keyword_dict}


def dicom_keyword(name: str) -> str | None:
    """The DICOM keyword spelled ``name`` in any case ("studydate" → "StudyDate")."""
    return _keywords().get(name.lower())


_TAG = re.compile(r"\(?([0-9a-fA-F]{4}),?([0-9a-fA-F]{4})\)?")


def dicom_tag(spec: str) -> tuple[int, str]:
    """A tag number and its keyword ("" if private or unknown) from ``0010,0030``,
    ``(0010,0030)``, ``00100030`` or a keyword."""
    match = _TAG.fullmatch(spec)
    if match is not None:
        tag = int(match.group(1) + match.group(2), 16)
        return tag, keyword_for_tag(tag) or ""
    keyword = dicom_keyword(spec)
    if keyword is None:
        raise values.bad(
            f"{spec!r} is neither a DICOM tag (gggg,eeee) nor a DICOM keyword (PatientBirthDate)."
        )
    return keyword_dict[keyword], keyword


FIELDS: dict[str, Callable[[Term], c.Criterion]] = {
    "name": _name,
    "desc": _description,
    "description": _description,
    "id": _id,
    "type": _type,
    "mime": _mime,
    "ext": _extension,
    "kind": _kind,
    "size": _size,
    "created": _dates("created_at"),
    "updated": _dates("updated_at"),
    "under": _under,
    "has": _has,
    "tag": _tag,
}
FIELD_NAMES = tuple(name for name in FIELDS if name != "desc")
PREFIXED: dict[str, Callable[[Term, str], c.Criterion]] = {
    "id.": _id,
    "meta.": _meta,
    "dicom.": _dicom_field,
}
DICOM_ALIASES = {
    "bodypart": "BodyPartExamined",
    "patient": "PatientID",
    "accession": "AccessionNumber",
}
