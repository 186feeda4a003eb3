"""Landing, site pages, privacy-policy acceptance, dashboard."""

from __future__ import annotations

from django.contrib import messages
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from sinfonia.core import errors
from sinfonia.resources import selectors
from sinfonia.resources.services.tree import ensure_home
from sinfonia.support.models import PageSlug
from sinfonia.support.services import pages
from sinfonia.web.common import actor, portal_view


def healthz(request: HttpRequest) -> HttpResponse:
    """200 once the server is up and its database answers (load balancers, start scripts)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready"
        return JsonResponse({"status": "unavailable", "detail": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


def home(request: HttpRequest) -> HttpResponse:
    """The landing page: a welcome for visitors, first steps for signed-in users."""
    return render(request, "web/home.html", {"home_page": True})


def site_page(request: HttpRequest, slug: str) -> HttpResponse:
    """About, Privacy policy, Anonymisation guidelines, Contact: readable by everyone."""
    try:
        page = pages.get_page(slug)
    except errors.NotFound:
        return render(request, "web/error.html", {"message": _("No such page.")}, status=404)
    return render(
        request, "web/page.html", {"page": page, "may_edit": actor(request).is_site_admin}
    )


@portal_view
def edit_page(request: HttpRequest, slug: str) -> HttpResponse:
    a = actor(request)
    page = pages.get_page(slug)
    error = ""
    if request.method == "POST":
        try:
            pages.update_page(
                a, slug, title=request.POST.get("title", ""), body=request.POST.get("body", "")
            )
        except errors.Invalid as exc:
            error = exc.message
        else:
            messages.success(request, _("The page was saved."))
            return redirect("page", slug=slug)
    if not a.is_site_admin:
        return render(
            request,
            "web/error.html",
            {"message": _("Only site administrators edit pages.")},
            status=403,
        )
    return render(request, "web/page_edit.html", {"page": page, "error": error})


def _safe_next(request: HttpRequest, fallback: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or fallback
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=False):
        return target
    return fallback


@portal_view
def privacy_accept(request: HttpRequest) -> HttpResponse:
    """First sign-in (and each new policy version): read and accept the privacy policy."""
    if request.method == "POST":
        if request.POST.get("accept") != "1":
            messages.warning(request, _("You need to accept the privacy policy to go on."))
        else:
            pages.accept_policy(actor(request))
            request.session["sinfonia_policy_version"] = pages.policy_version()
            return redirect(_safe_next(request))
    return render(
        request,
        "web/privacy_accept.html",
        {
            "page": pages.get_page(PageSlug.PRIVACY),
            "version": pages.policy_version(),
            "next": _safe_next(request),
        },
    )


@portal_view
def dashboard(request: HttpRequest) -> HttpResponse:
    """The collections the user may see (personal collections are reached from Users)."""
    a = actor(request)
    page = selectors.list_collections(a, limit=200)
    return render(request, "web/dashboard.html", {"collections": page.items, "total": page.total})


@portal_view
def my_folder(request: HttpRequest) -> HttpResponse:
    user = actor(request).user
    assert user is not None
    return redirect("node", node_id=ensure_home(user).id)
