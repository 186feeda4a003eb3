"""Recording audit events. Services call `record` inside their own transaction, so an event is
stored exactly when the operation it describes commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sinfonia.audit.models import AuditEvent
from sinfonia.core.context import Actor

if TYPE_CHECKING:
    from sinfonia.resources.models import Node


def record(
    actor: Actor,
    action: str,
    node: Node | None = None,
    *,
    path: str = "",
    **detail: Any,
) -> None:
    """Write an audit event as part of the current transaction (rolled back with it)."""
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
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                user=actor.user,
                username=actor.username,
                action=action,
                node=node,
                path=path,
                channel=actor.channel,
                client=actor.client[:255],
                detail=detail,
            )
            for node, path, detail in events
        ],
        batch_size=500,
    )
