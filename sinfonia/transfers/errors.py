from __future__ import annotations

from enum import StrEnum


class TransferError(StrEnum):
    UPLOAD_NOT_FOUND = "upload_not_found"
    OFFSET_MISMATCH = "offset_mismatch"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    BAD_CHECKSUM = "bad_checksum"
    TOO_LARGE = "too_large"
    BAD_LENGTH = "bad_length"
    BAD_METADATA = "bad_upload_metadata"
    UPLOAD_BUSY = "upload_busy"
    ALREADY_COMPLETE = "upload_complete"
    QUOTA_EXCEEDED = "quota_exceeded"
    STAGING_NOT_FOUND = "staging_not_found"
    STAGING_INVALID = "staging_invalid"
    NOT_MODIFIABLE = "not_modifiable"
    NOT_CONVERTIBLE = "not_convertible"
    CONVERSION_FAILED = "conversion_failed"
    CONVERTER_MISSING = "converter_missing"
    BAD_PROGRESS_TOKEN = "bad_progress_token"
