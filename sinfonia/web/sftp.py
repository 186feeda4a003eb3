"""The SFTP page: the user's staging area browsed like a folder, the destination chooser of
its import dialog, and the "How to connect" details. Imports, exports and deletions are made
by the page's script through the REST API (``/api/v1/sftp/...``), which calls the services."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from sinfonia.core import errors
from sinfonia.resources import access, selectors
from sinfonia.resources.models import Kind, Level
from sinfonia.resources.services.tree import ensure_home
from sinfonia.sftp.connection import connection_info, hostname_of
from sinfonia.transfers.services import staging, staging_jobs
from sinfonia.web.common import PAGE_SIZES, actor, int_param, paging, portal_view

DEFAULT_PAGE = 50
FOLDER_CHOICES = 500


@portal_view
def sftp_page(request: HttpRequest) -> HttpResponse:
    """One page of a folder of the user's staging area, with a breadcrumb to its parents."""
    a = actor(request)
    path = request.GET.get("path", "")
    limit = int_param(request.GET.get("limit"), DEFAULT_PAGE, 1, max(PAGE_SIZES))
    offset = int_param(request.GET.get("offset"), 0, 0, 2**62)
    try:
        page = staging.list_entries(a, path, offset=offset, limit=limit)
    except errors.Invalid as exc:
        return render(request, "web/error.html", {"message": exc.message}, status=400)
    parts = page.path.split("/") if page.path else []
    crumbs = [{"name": name, "path": "/".join(parts[: i + 1])} for i, name in enumerate(parts)]
    context: dict[str, Any] = {
        "page": page,
        "crumbs": crumbs[:-1],
        "here": parts[-1] if parts else "",
        "parent_path": "/".join(parts[:-1]) if parts else None,
        **paging(offset, limit, len(page.items), page.total),
        "usage_percent": min(100, round(100 * page.usage / page.quota)) if page.quota else 0,
    }
    info = connection_info(a, hostname_of(request.get_host()))
    host = f"[{info.host}]" if ":" in info.host else info.host
    context |= {"connection": info, "command": f"sftp -P {info.port} {info.username}@{host}"}
    return render(request, "web/sftp.html", context)


@portal_view
def destinations(request: HttpRequest) -> HttpResponse:
    """The import dialog's folder chooser (an htmx partial): the user's own collection and
    the collections they may see at the top; inside one, its folders, with whether the user
    may import there."""
    a = actor(request)
    assert a.user is not None
    node_id = int_param(request.GET.get("node"), 0, 0, 2**62)
    if not node_id:
        home = ensure_home(a.user)
        listed = [home] + [
            c for c in selectors.list_collections(a, limit=FOLDER_CHOICES).items if c.id != home.id
        ]
        context: dict[str, Any] = {"node": None, "crumbs": [], "choices": listed}
        return render(request, "web/partials/sftp_folders.html", context)
    node = selectors.get_node(a, node_id)
    if node.kind not in (Kind.COLLECTION, Kind.FOLDER):
        raise Http404("not a collection or folder")
    children = selectors.list_children(a, node, limit=FOLDER_CHOICES).items
    context = {
        "node": node,
        "path": selectors.path_of(node),
        "crumbs": [n for n in selectors.breadcrumb(node) if access.can(a, Level.READ, n)],
        "choices": [c for c in children if c.kind in (Kind.COLLECTION, Kind.FOLDER)],
        "may_write": access.can(a, Level.WRITE, node),
    }
    return render(request, "web/partials/sftp_folders.html", context)


@portal_view
def default_name(request: HttpRequest) -> JsonResponse:
    """The name a new import folder (``upload``) or staging folder (``download``) gets now."""
    prefix = "download" if request.GET.get("kind") == "download" else "upload"
    return JsonResponse({"name": staging_jobs.default_name(prefix, actor(request))})
