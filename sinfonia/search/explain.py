"""Saying what matched: which criterion, which field, and where in the text."""

from __future__ import annotations

from dataclasses import dataclass

from sinfonia.core.textfold import token_spans
from sinfonia.search.backends import Phrase

SNIPPET_CONTEXT = 60  # characters of description shown around the first hit


@dataclass(frozen=True, slots=True)
class Match:
    """One reason a hit was found: ``criterion`` as typed, the ``field`` it matched in, the
    field's ``value`` (an excerpt for descriptions), and ``highlights``, the ``[start, end)``
    character ranges of the matching words within ``value``."""

    criterion: str
    field: str
    value: str
    highlights: tuple[tuple[int, int], ...] = ()


def phrase_hits(text: str, phrase: Phrase) -> list[tuple[int, int]]:
    """Where ``phrase`` occurs in ``text``, as spans of original characters (the same word
    rules as the index: folded tokens; the last one a prefix when the phrase is)."""
    if not text:
        return []
    found = list(token_spans(text))
    wanted = phrase.tokens
    n = len(wanted)
    hits = []
    for i in range(len(found) - n + 1):
        window = found[i : i + n]
        head_ok = all(window[k][0] == wanted[k] for k in range(n - 1))
        last = window[-1][0]
        last_ok = last.startswith(wanted[-1]) if phrase.prefix else last == wanted[-1]
        if head_ok and last_ok:
            hits.append((window[0][1], window[-1][2]))
    return hits


def snippet(
    text: str, spans: list[tuple[int, int]], context: int = SNIPPET_CONTEXT
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """An excerpt of ``text`` around its first hit, with the hits inside it re-based."""
    start = max(0, spans[0][0] - context)
    end = min(len(text), spans[0][1] + context)
    if start > 0:  # begin and end at word boundaries where there is one nearby
        space = text.find(" ", start, spans[0][0])
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", spans[0][1], end)
        end = space if space != -1 else end
    lead = "…" if start > 0 else ""
    excerpt = lead + text[start:end] + ("…" if end < len(text) else "")
    shift = len(lead) - start
    inside = tuple((s + shift, e + shift) for s, e in spans if s >= start and e <= end)
    return excerpt, inside
