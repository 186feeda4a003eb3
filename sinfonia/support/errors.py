from __future__ import annotations

from enum import StrEnum


class SupportError(StrEnum):
    UNKNOWN_PAGE = "unknown_page"
    INVALID_MESSAGE = "invalid_message"
    TOO_LARGE = "too_large"
    NOT_FOUND = "message_not_found"
