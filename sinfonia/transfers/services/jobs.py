"""Long resource operations run in the background with progress (large copies)."""

from __future__ import annotations

from typing import Any

from sinfonia.core.context import Actor
from sinfonia.resources import selectors
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.services import copymove
from sinfonia.transfers.models import Operation
from sinfonia.transfers.services import operations


def start_copy(actor: Actor, sources: list[Node], destination: Node) -> Operation:
    """Queue a copy; the same checks run again when it starts (nothing may have changed)."""
    count = 0
    for node in sources:
        below = selectors.summary(actor, node)
        count += 1 + (0 if node.kind == Kind.FILE else below.files + below.filesets + below.folders)
    return operations.enqueue(
        actor,
        "resources.copy",
        {"sources": [n.id for n in sources], "destination_id": destination.id, "count": count},
        unit="elements",
    )


@operations.handler("resources.copy")
def copy(actor: Actor, params: dict[str, Any], progress: operations.Progress) -> dict[str, Any]:
    destination = selectors.get_node(actor, params["destination_id"])
    sources = selectors.get_nodes(actor, params["sources"], Level.READ)
    progress.update(0, params.get("count", 0), "copying")
    copies = copymove.copy_nodes(actor, sources, destination, progress=progress.update)
    return {"copies": [c.id for c in copies]}
