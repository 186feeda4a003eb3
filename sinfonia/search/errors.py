from __future__ import annotations

from enum import StrEnum


class SearchError(StrEnum):
    BAD_QUERY = "bad_search_query"  # malformed text: an unclosed quote, a lone "-"
    EMPTY_QUERY = "empty_search_query"
    UNKNOWN_FIELD = "unknown_search_field"
    BAD_VALUE = "bad_search_value"  # a criterion whose value does not parse (size, date, tag)
    BAD_LOCATION = "bad_search_location"  # under: names nothing the actor may see
    BAD_SORT = "bad_search_sort"
