"""Recording audit events. Services call `record` inside their own transaction, so an event is
stored exactly when the operation it describes commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sinfonia.audit.models import AuditEvent
from sinfonia.core import bulk
from sinfonia.core.context import Actor

if TYPE_CHECKING:
    from sinfonia.resources.models import Node


# Events that record a read, not a change: the only ones a read-only actor may cause.
READ_ACTIONS = frozenset({"file.download", "zip.contents", "dicom.retrieve", "dicom.move"})


def is_read_action(action: str) -> bool:
    return action in READ_ACTIONS or (
        action.startswith("dicom.") and not action.startswith("dicom.ae.")
    )


def record(
    actor: Actor,
    action: str,
    node: Node | None = None,
    *,
    path: str = "",
    **detail: Any,
) -> None:
    """Write an audit event as part of the current transaction (rolled back with it).

    A read-only actor may cause read events only (downloads, DICOM retrievals): any other event
    means a service changed something without calling `Actor.require_write`, so this refuses it
    and the transaction rolls back.
    """
    if actor.read_only and not is_read_action(action):
        actor.require_write()
    AuditEvent.objects.create(
        user=actor.user,
        username=actor.username,
        action=action,
        node=node,
        path=path,
        channel=actor.channel,
        client=actor.client[:255],
        detail=detail,
    )


def record_many(
    actor: Actor, action: str, events: Iterable[tuple[Node, str, dict[str, Any]]]
) -> None:
    """`record` for many events of one action at once, (node, path, detail) each: one insert
    for a batch (a STOW-RS request storing many files), in the current transaction."""
    if actor.read_only and not is_read_action(action):
        actor.require_write()
    user_id = actor.user.pk if actor.user is not None else None
    username, channel, client = actor.username, actor.channel, actor.client[:255]
    bulk.insert_values(
        AuditEvent,
        [
            {
                "user_id": user_id,
                "username": username,
                "action": action,
                "node_id": node.pk if node is not None else None,
                "path": path,
                "channel": channel,
                "client": client,
                "detail": detail,
            }
            for node, path, detail in events
        ],
    )
