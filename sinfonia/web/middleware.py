from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import ngettext

from sinfonia.accounts.services import twofactor
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


LAST_SEEN = "sinfonia_last_seen"
# The time of the last request is written to the session at most this often (seconds), so
# that not every request saves the session; idle expiry is that much less precise.
LAST_SEEN_GRANULARITY = 30


def _to_login(request: HttpRequest) -> HttpResponse:
    target = reverse("login")
    if request.method == "GET" and not request.headers.get("HX-Request"):
        target += "?" + urlencode({"next": request.get_full_path()})
    response = HttpResponseRedirect(target)
    if request.headers.get("HX-Request"):
        response["HX-Redirect"] = target  # htmx: reload the page, not the fragment
    return response


class IdleSessionMiddleware:
    """End a session after ``SINFONIA_SESSION_IDLE_MINUTES`` without a request (0: never).

    Portal pages then go to the log-in page with a message; the API answers as to anyone
    signed out (401). Sessions also end when the browser closes
    (``SESSION_EXPIRE_AT_BROWSER_CLOSE``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        idle = settings.SINFONIA_SESSION_IDLE_MINUTES * 60
        user = getattr(request, "user", None)
        if idle > 0 and user is not None and user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_SEEN)
            if isinstance(last, int | float) and now - last > idle:
                logout(request)
                if not request.path.startswith(("/api/", "/dicom-web/")):
                    minutes = settings.SINFONIA_SESSION_IDLE_MINUTES
                    messages.info(
                        request,
                        ngettext(
                            "Your session ended after %(n)d minute without activity; log in again.",
                            "Your session ended after %(n)d minutes without activity; "
                            "log in again.",
                            minutes,
                        )
                        % {"n": minutes},
                    )
                    return _to_login(request)
            elif not isinstance(last, int | float) or now - last > LAST_SEEN_GRANULARITY:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


# Where a site administrator who must set up two-factor log-in may still go.
ENROLMENT_OPEN = (*OPEN_PREFIXES, "/profile/", "/login/")


class TwoFactorEnrolmentMiddleware:
    """With ``SINFONIA_REQUIRE_2FA_FOR_ADMINS``, send site administrators without two-factor
    log-in to their profile page to set it up before anything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            settings.SINFONIA_REQUIRE_2FA_FOR_ADMINS
            and user is not None
            and user.is_authenticated
            and user.is_superuser
            and not request.path.startswith(ENROLMENT_OPEN)
            and twofactor.enrolment_required(user)
        ):
            return HttpResponseRedirect(reverse("profile") + "#two-factor")
        return self.get_response(request)
