"""Recording audit events. Services call `record` inside their own transaction, so an event is
stored exactly when the operation it describes commits."""

from __future__ import annotations

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
