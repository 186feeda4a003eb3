from __future__ import annotations

from enum import StrEnum


class ResourceError(StrEnum):
    NOT_FOUND = "resource_not_found"
    PERMISSION_DENIED = "permission_denied"
    NAME_TAKEN = "name_taken"
    WRONG_DESTINATION = "wrong_destination"
    CYCLE = "move_into_itself"
    NOT_A_FILE = "not_a_file"
    NOT_A_CONTAINER = "not_a_container"
    COLLECTION_FIXED = "collection_cannot_move"
    ACL_NOT_HERE = "acl_not_on_this_kind"
    INVALID_ACL = "invalid_acl"
    INVALID_METADATA = "invalid_metadata"
    INVALID_DESCRIPTION = "invalid_description"
    INVALID_SINFONIA_ID = "invalid_sinfonia_id"
    INVALID_PATH = "invalid_path"
    INVALID_SORT = "invalid_sort"
    EMPTY_SELECTION = "empty_selection"
    TRASH_NOT_FOUND = "trash_item_not_found"
    ORIGINAL_PLACE_GONE = "original_place_gone"
    TOO_LARGE = "too_large"
    IN_TRASH = "in_trash"
