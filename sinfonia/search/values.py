"""Values of search criteria: comparisons, sizes, dates, wildcards. Pure functions."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Generic, TypeVar

from sinfonia.core.errors import Invalid
from sinfonia.search.errors import SearchError

T = TypeVar("T")


def bad(message: str) -> Invalid:
    return Invalid(SearchError.BAD_VALUE, message)


@dataclass(frozen=True, slots=True)
class Bounds(Generic[T]):
    """``low <= x < high`` (either side open when None); ``low_strict`` makes it ``low < x``,
    ``high_inclusive`` makes it ``x <= high``."""

    low: T | None = None
    high: T | None = None
    low_strict: bool = False
    high_inclusive: bool = False


def comparison(value: str, parse: Callable[[str], T], what: str) -> Bounds[T]:
    """``>x``, ``>=x``, ``<x``, ``<=x``, ``x..y``, ``x..``, ``..y`` or ``x`` (equal)."""
    text = value.strip()
    for op in (">=", "<=", ">", "<"):
        if text.startswith(op):
            operand = parse(text[len(op) :].strip())
            if op == ">":
                return Bounds(low=operand, low_strict=True)
            if op == ">=":
                return Bounds(low=operand)
            if op == "<":
                return Bounds(high=operand)
            return Bounds(high=operand, high_inclusive=True)
    if ".." in text:
        low_text, _, high_text = text.partition("..")
        if not low_text.strip() and not high_text.strip():
            raise bad(f"A range of {what} needs at least one end, like 1..5.")
        low = parse(low_text.strip()) if low_text.strip() else None
        high = parse(high_text.strip()) if high_text.strip() else None
        return Bounds(low=low, high=high, high_inclusive=True)
    operand = parse(text)
    return Bounds(low=operand, high=operand, high_inclusive=True)


def is_comparison(value: str) -> bool:
    return value.startswith((">", "<")) or ".." in value


# -- numbers and sizes ------------------------------------------------------------------------

UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def size(text: str) -> int:
    """``"10MB"`` → 10,000,000 bytes; ``"1.5GiB"``; a bare number is bytes."""
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None or match.group(2) not in UNITS:
        raise bad(
            f"{text!r} is not a size; write a number with an optional unit "
            "(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. size:>10MB."
        )
    return round(float(match.group(1)) * UNITS[match.group(2)])


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise bad(f"{text!r} is not a number.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise bad(f"{text!r} is not a finite number.")
    return value


# -- dates ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """The days ``start <= d < end`` that a written date covers (a year, a month, a day)."""

    start: date
    end: date


_DATE = re.compile(r"(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?")


def span(text: str) -> Span:
    """``2024`` (a year), ``2024-03`` or ``202403`` (a month), ``2024-03-15`` or ``20240315``."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise bad(f"{text!r} is not a date; write 2024, 2024-03 or 2024-03-15.")
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    try:
        if month is None:
            return Span(date(year, 1, 1), date(year + 1, 1, 1))
        if day is None:
            last = calendar.monthrange(year, month)[1]
            return Span(date(year, month, 1), date(year, month, last) + timedelta(days=1))
        start = date(year, month, day)
    except (ValueError, OverflowError):
        raise bad(f"{text!r} is not a valid date.") from None
    return Span(start, start + timedelta(days=1))


def date_bounds(value: str) -> tuple[date | None, date | None]:
    """The days ``[start, end)`` a date criterion covers (either end open when None)."""
    bounds = comparison(value, span, "dates")
    low = high = None
    if bounds.low is not None:
        low = bounds.low.end if bounds.low_strict else bounds.low.start
    if bounds.high is not None:
        high = bounds.high.end if bounds.high_inclusive else bounds.high.start
    if low is not None and high is not None and low >= high:
        raise bad(f"The date range {value!r} is empty.")
    return low, high


_DICOM_RANGE = re.compile(r"(\d{8})?-(\d{8})?")


def dicom_date_range(value: str) -> str:
    """A date criterion as a DICOM range matching value (PS3.4 C.2.2.2.5): ``YYYYMMDD-YYYYMMDD``
    with either end open. Takes the DICOM form as it is, and the forms of `date_bounds`."""
    text = value.strip()
    dicom = _DICOM_RANGE.fullmatch(text)
    if dicom is not None and (dicom.group(1) or dicom.group(2)):
        return text
    low, high = date_bounds(text)
    return "-".join(
        (
            low.strftime("%Y%m%d") if low is not None else "",
            (high - timedelta(days=1)).strftime("%Y%m%d") if high is not None else "",
        )
    )


def moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- wildcards --------------------------------------------------------------------------------


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def like_pattern(text: str) -> str:
    """``*`` and ``?`` as LIKE's ``%`` and ``_``; everything else literal (escape ``\\``)."""
    out = []
    for ch in text:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def caseless_regex(text: str) -> str:
    """A regular expression for ``text`` (``*`` and ``?`` as wildcards, unanchored) that
    ignores letter case by spelling it out: ``Łó*`` is ``[łŁ][óÓ].*``. Used with the
    case-sensitive regex operator, it means the same on every database (SQLite's own case
    folding knows ASCII only)."""
    out = []
    for ch in text:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            variants = sorted({v for v in (ch, ch.lower(), ch.upper()) if len(v) == 1})
            escaped = "".join(re.escape(v) for v in variants)
            out.append(f"[{escaped}]" if len(variants) > 1 else escaped)
    return "".join(out)
