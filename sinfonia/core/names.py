"""Validation of user-supplied names (resources, collections, groups).

Names are Unicode, normalised to NFC so that the same name typed on macOS (NFD) and Windows
(NFC) is one name. They become path segments (lookup, SFTP, export), so the rules below are
those of a portable file name.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from sinfonia.core.errors import Invalid

MAX_NAME_BYTES = 255


class NameCode(StrEnum):
    INVALID_NAME = "invalid_name"


def clean_name(raw: str, *, what: str = "name") -> str:
    """Return the NFC form of ``raw`` or raise `Invalid` saying what is wrong with it."""
    if not isinstance(raw, str):
        raise Invalid(NameCode.INVALID_NAME, f"The {what} must be text.")
    name = unicodedata.normalize("NFC", raw)
    if not name or not name.strip():
        raise Invalid(NameCode.INVALID_NAME, f"The {what} must not be empty or only spaces.")
    if "/" in name or "\\" in name:
        raise Invalid(NameCode.INVALID_NAME, f"The {what} must not contain '/' or '\\'.")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise Invalid(
            NameCode.INVALID_NAME,
            f"The {what} must not contain control characters (NUL, tab, new line...).",
        )
    if name in (".", ".."):
        raise Invalid(NameCode.INVALID_NAME, f"The {what} must not be '.' or '..'.")
    if name != name.strip():
        raise Invalid(NameCode.INVALID_NAME, f"The {what} must not start or end with spaces.")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise Invalid(
            NameCode.INVALID_NAME, f"The {what} is not valid UTF-8 text ({raw!r})."
        ) from exc
    if size > MAX_NAME_BYTES:
        raise Invalid(
            NameCode.INVALID_NAME,
            f"The {what} is {size} bytes long in UTF-8; at most {MAX_NAME_BYTES} are allowed.",
        )
    return name
