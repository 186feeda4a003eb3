from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from sinfonia.support.services import pages

# Reachable before the policy is accepted: the policy itself, signing out, static files, the
# API (it has its own clients) and the health check.
OPEN_PREFIXES = (
    "/static/",
    "/api/",
    "/dicom-web/",
    "/healthz",
    "/logout/",
    "/pages/",
    "/privacy/accept/",
)
SESSION_KEY = "sinfonia_policy_version"


class PrivacyPolicyMiddleware:
    """Send signed-in users to the privacy-policy page until they accept its current version
    (remembered in the session after the first check, so one query per session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and request.session.get(SESSION_KEY) != pages.policy_version()
        ):
            if not pages.has_accepted_policy(user):
                query = urlencode({"next": request.get_full_path()})  # the query string too
                target = reverse("privacy-accept") + "?" + query
                return HttpResponseRedirect(target)
            request.session[SESSION_KEY] = pages.policy_version()
        return self.get_response(request)
