from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from sinfonia.accounts.errors import AccountError
from sinfonia.audit.models import AuditEvent
from sinfonia.core.context import Actor
from sinfonia.core.errors import PermissionDenied


def events(
    actor: Actor,
    *,
    username: str | None = None,
    action: str | None = None,
    node_id: int | None = None,
    path: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events, newest first, for site administrators only. ``action`` ending in "."
    matches a family ("group."); ``path`` the element and everything below it."""
    if not actor.is_site_admin:
        raise PermissionDenied(AccountError.NOT_SITE_ADMIN, "Only site administrators read audit.")
    qs = AuditEvent.objects.all()
    if username:
        qs = qs.filter(username=username)
    if action:
        qs = (
            qs.filter(action__startswith=action)
            if action.endswith(".")
            else qs.filter(action=action)
        )
    if node_id is not None:
        qs = qs.filter(node_id=node_id)
    if path:
        below = path.rstrip("/") + "/"
        qs = qs.filter(Q(path=path.rstrip("/") or "/") | Q(path__startswith=below))
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return qs
