"""Folding text into search tokens: the one definition of "the same word" for every backend.

Search must find "Łódź" when asked for "lodz" and the other way round, on SQLite and on
PostgreSQL alike (docs/decisions/0005-search-backends.md). Neither database folds accents the
same way (SQLite's ``remove_diacritics`` keeps ``ł``, PostgreSQL's ``unaccent`` rules differ
again), so folding happens here, in Python, once for what is stored and once for what is
asked; the databases only ever see folded tokens separated by single spaces.

Folding a character: compatibility decomposition (NFKD: ``ﬁ`` → ``fi``, ``²`` → ``2``,
full-width letters → ASCII), case folding (``ß`` → ``ss``, Greek final sigma → sigma), a table for
letters that do not decompose (``ł`` → ``l``, ``ø`` → ``o``, ``æ`` → ``ae``, ``đ`` → ``d``...),
removal of combining marks, then recomposition (NFC, so Hangul syllables stay whole).

Tokens are runs of letters and digits (Unicode categories L, N and Co, as SQLite's unicode61
tokenizer counts them); anything else separates. Ideographs, kana and Hangul syllables are one
token each, since those scripts do not separate words with spaces: "東京" is the phrase
"東 京". Tokens are cut to `MAX_TOKEN` characters.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Iterator
from typing import Any

MAX_TOKEN = 64
# Letters that compatibility decomposition leaves alone (after case folding).
SPECIAL = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ħ": "h",
        "\u0131": "i",  # dotless i
        "ŀ": "l",
        "ŧ": "t",
        "ŋ": "n",
        "ĸ": "k",
        "\u017f": "s",  # long s
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ß": "ss",
        "\u02bc": "",  # modifier letter apostrophe (Ukrainian, Belarusian)
    }
)
# Scripts written without spaces between words: every character is a token of its own.
SINGLE_CHAR_RANGES = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3134F),  # CJK Extensions B-G
)


def _single(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in SINGLE_CHAR_RANGES)


@functools.lru_cache(maxsize=8192)
def fold_char(ch: str) -> str:
    """``ch`` folded: the letters and digits it stands for (maybe several, maybe none), or
    ``" "`` when it separates words. Combining marks fold to ``""`` (they join, not split)."""
    if ch.isascii():
        return ch.lower() if ch.isalnum() else " "
    decomposed = unicodedata.normalize("NFKD", ch).casefold().translate(SPECIAL)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    if not kept:
        return ""
    out = []
    for c in unicodedata.normalize("NFC", kept):
        category = unicodedata.category(c)
        if category[0] in "LN" or category == "Co":
            out.append(c)
        elif unicodedata.combining(c):
            continue
        else:
            out.append(" ")
    return "".join(out)


def token_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """The tokens of ``text`` with the span ``[start, end)`` of original characters each one
    comes from (to highlight a hit in the original text)."""
    current: list[str] = []
    start = end = 0
    for index, ch in enumerate(text):
        folded = fold_char(ch)
        if not folded and current:  # a combining mark belongs to the token it follows
            end = index + 1
        for c in folded:
            if c != " " and not _single(c):
                if not current:
                    start = index
                current.append(c)
                end = index + 1
                continue
            if current:
                yield "".join(current)[:MAX_TOKEN], start, end
                current = []
            if c != " ":
                yield c, index, index + 1
    if current:
        yield "".join(current)[:MAX_TOKEN], start, end


def tokens(text: str) -> list[str]:
    """The folded tokens of ``text``: ``tokens("Łódź_CT-2.1")`` is ``["lodz", "ct", "2", "1"]``."""
    if text.isascii():
        return _ascii_tokens(text)
    return [token for token, _, _ in token_spans(text)]


def _ascii_tokens(text: str) -> list[str]:
    # The common case (file names), without the per-character machinery.
    cleaned = "".join(c if c.isalnum() else " " for c in text.lower())
    return [t[:MAX_TOKEN] for t in cleaned.split()]


def fold(text: str, limit: int | None = None) -> str:
    """``text`` as stored for searching: its tokens joined by single spaces, at most ``limit``
    characters (whole tokens only)."""
    folded = " ".join(tokens(text))
    if limit is not None and len(folded) > limit:
        folded = folded[:limit].rsplit(" ", 1)[0]
    return folded


def fold_metadata(meta: dict[str, Any]) -> str:
    """Metadata as stored for searching: each key's tokens followed by its value's (strings
    as they are, other JSON values as JSON text), the whole of it."""
    parts = []
    for key, value in meta.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key} {text}")
    return fold(" ".join(parts))
