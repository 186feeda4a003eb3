from __future__ import annotations

from enum import StrEnum


class DicomError(StrEnum):
    NOT_DICOM = "not_dicom"
    CORRUPT = "corrupt_dicom"
    MISSING_UID = "missing_uid"
    NOT_FOUND = "dicom_not_found"
    BAD_QUERY = "bad_dicom_query"
    CANNOT_RENDER = "cannot_render"
    UNKNOWN_AE = "unknown_ae"
    INVALID_AE_TITLE = "invalid_ae_title"
    AE_TITLE_TAKEN = "ae_title_taken"
    INVALID_ADDRESS = "invalid_ae_address"
    INVALID_DESTINATION = "invalid_ae_destination"
    STUDY_MISMATCH = "study_mismatch"
    DUPLICATE_INSTANCE = "duplicate_instance"
