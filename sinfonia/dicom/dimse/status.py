"""The DIMSE front-end's one error translator: service error kind → DIMSE status.

| raised                                  | status | meaning (PS3.7 Annex C, PS3.4)        |
|-----------------------------------------|--------|---------------------------------------|
| Unauthenticated, PermissionDenied,      | 0x0124 | Refused: Not authorised               |
| NotFound (missing and forbidden look    |        |                                       |
| the same, as everywhere in Sinfonia)    |        |                                       |
| Invalid (malformed data set or query)   | 0xC000 | Error: Cannot understand              |
| Conflict (another instance under that   | 0x0110 | Failure: Processing failure           |
| SOP Instance UID is stored there)       |        |                                       |
| "too_large", OSError, DatabaseError     | 0xA700 | Refused: Out of resources             |
| anything else (a bug; logged)           | 0xC000 | Error: Cannot understand              |

A failure is answered as a status data set with (0000,0902) Error Comment carrying the
service's message, so that the remote operator reads the same sentence a REST client would.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from pydicom.dataset import Dataset

from sinfonia.core import errors

log = logging.getLogger("sinfonia.dimse")

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
REFUSED = 0x0124  # PS3.7 C.5.21 Refused: Not Authorised
PROCESSING_FAILURE = 0x0110  # PS3.7 C.5.8
OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3 / C.4.1.1.4 Refused: Out of Resources
CANNOT_UNDERSTAND = 0xC000  # PS3.4 B.2.3 / C.4.1.1.4 Error: Cannot understand
MOVE_DESTINATION_UNKNOWN = 0xA801  # PS3.4 C.4.2.1.5
SUBOPERATIONS_WARNING = 0xB000  # PS3.4 C.4.2.1.5 / C.4.3.1.4: some sub-operations failed
ERROR_COMMENT_LENGTH = 64  # (0000,0902) Error Comment is LO

STATUS_BY_KIND: dict[type[errors.ServiceError], int] = {
    errors.Unauthenticated: REFUSED,
    errors.PermissionDenied: REFUSED,
    errors.NotFound: REFUSED,
    errors.Invalid: CANNOT_UNDERSTAND,
    errors.Conflict: PROCESSING_FAILURE,
}


def status_for(exc: BaseException) -> int:
    """The DIMSE status that answers a failed operation."""
    if isinstance(exc, errors.ServiceError):
        if str(exc.code) == "too_large":
            return OUT_OF_RESOURCES
        return next(
            (s for kind, s in STATUS_BY_KIND.items() if isinstance(exc, kind)),
            CANNOT_UNDERSTAND,
        )
    if isinstance(exc, OSError | DatabaseError):
        return OUT_OF_RESOURCES
    return CANNOT_UNDERSTAND


def comment_for(exc: BaseException) -> str:
    """A short text for (0000,0902) Error Comment (LO: 64 characters, no backslash)."""
    if isinstance(exc, errors.ServiceError):
        text = exc.message
    elif isinstance(exc, OSError | DatabaseError):
        text = "Storage is not available; try again later."
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = "".join(ch if " " <= ch <= "~" and ch != "\\" else " " for ch in text)
    return text[:ERROR_COMMENT_LENGTH].strip()


def failure(exc: BaseException) -> Dataset:
    """The status data set (Status, Error Comment) answering ``exc``; unexpected errors are
    logged with their traceback."""
    status = status_for(exc)
    if not isinstance(exc, errors.ServiceError):
        log.error("DIMSE operation failed (0x%04X)", status, exc_info=exc)
    ds = Dataset()
    ds.Status = status
    comment = comment_for(exc)
    if comment:
        ds.ErrorComment = comment
    return ds
