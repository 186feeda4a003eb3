"""What every portal view shares: the actor of a request and the one error translator."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from sinfonia.accounts.models import User
from sinfonia.core import errors
from sinfonia.core.context import Actor


def actor(request: HttpRequest) -> Actor:
    user = request.user
    return Actor(
        user=user if isinstance(user, User) else None,
        channel="web",
        client=str(request.META.get("REMOTE_ADDR", "")),
    )


PAGE_SIZES = (20, 50, 100, 200)  # the choices of a paged list's "Entries per page"


def paging(offset: int, limit: int, shown: int, total: int) -> dict[str, Any]:
    """A paged list's template values: "first to last of total", the page-size choice and the
    previous and next pages' offsets (None at either end)."""
    return {
        "limit": limit,
        "page_sizes": PAGE_SIZES,
        "first_shown": offset + 1 if shown else 0,
        "last_shown": offset + shown,
        "prev_offset": max(0, offset - limit) if offset > 0 else None,
        "next_offset": offset + limit if offset + limit < total else None,
    }


def int_param(value: str | None, default: int, low: int, high: int) -> int:
    """A query parameter as a number kept within [low, high]; ``default`` when missing or
    not a number."""
    try:
        return max(low, min(high, int(value or default)))
    except ValueError:
        return default


def portal_view(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Sign-in required; a service's NotFound is a 404 and PermissionDenied a 403 page, so
    missing and forbidden elements look alike, as in the REST API."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except errors.NotFound as exc:
            raise Http404(exc.message) from exc
        except (errors.PermissionDenied, errors.Unauthenticated) as exc:
            return render(request, "web/error.html", {"message": exc.message}, status=403)

    return login_required(wrapped)
