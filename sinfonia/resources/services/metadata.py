"""Free key/value metadata on every element."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from django.db import transaction

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid
from sinfonia.resources import access
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Level, Node
from sinfonia.resources.selectors import path_of

MAX_METADATA_BYTES = 64 * 1024


def get_metadata(actor: Actor, node: Node) -> dict[str, Any]:
    access.require(actor, Level.READ, node)
    return dict(node.meta)


@transaction.atomic
def set_metadata(
    actor: Actor, node: Node, values: dict[str, Any], *, replace: bool = False
) -> dict[str, Any]:
    """Merge ``values`` into the element's metadata (a ``None`` value removes the key), or
    replace it whole. Values are any JSON. Needs write access."""
    access.require(actor, Level.WRITE, node)
    if not isinstance(values, dict):
        raise Invalid(ResourceError.INVALID_METADATA, "Metadata is an object of key/value pairs.")
    merged: dict[str, Any] = {} if replace else dict(node.meta)
    for key, value in values.items():
        if (
            not isinstance(key, str)
            or not key.strip()
            or len(key) > 255
            or any(unicodedata.category(c) == "Cc" for c in key)
        ):
            raise Invalid(
                ResourceError.INVALID_METADATA,
                f"Metadata key {key!r} must be 1-255 printable characters.",
            )
        if _has_nul(key) or _has_nul(value):
            raise Invalid(
                ResourceError.INVALID_METADATA,
                f"Metadata {key!r} holds a NUL character, which cannot be stored.",
            )
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(json.dumps(merged, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise Invalid(
            ResourceError.INVALID_METADATA,
            f"Metadata may hold at most {MAX_METADATA_BYTES // 1024} KiB per element.",
        )
    node.meta = merged
    node.save(update_fields=["meta", "updated_at"])
    record(actor, "metadata.set", node, path=path_of(node), keys=sorted(values))
    return merged


def _has_nul(value: Any) -> bool:
    """True if a NUL character hides anywhere in a JSON value (PostgreSQL cannot store it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
