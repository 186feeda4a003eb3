"""Log-in in two steps (password, then the authenticator's code for two-factor accounts),
and "log out everywhere". The rules (throttling, codes) are in
`sinfonia.accounts.services.login`."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import User
from sinfonia.accounts.services import login, twofactor
from sinfonia.core import errors
from sinfonia.web.common import actor, portal_view

PENDING = "sinfonia_2fa_pending"  # session: {"user": id, "at": epoch seconds, "next": url}
PENDING_SECONDS = 300
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _client(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _next(request: HttpRequest, candidate: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _refusal(exc: errors.ServiceError) -> str:
    if isinstance(exc, errors.Throttled):
        minutes = int(exc.details.get("minutes", 1))
        return ngettext(
            "Too many failed log-ins; try again in %(n)d minute.",
            "Too many failed log-ins; try again in %(n)d minutes.",
            minutes,
        ) % {"n": minutes}
    if exc.code == AccountError.BAD_OTP:
        return _("That code is wrong.")
    return _("Wrong user name or password.")


def _finish(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    request.session.pop(PENDING, None)
    auth_login(request, user, backend=BACKEND)
    return redirect(_next(request, next_url))


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_page(request: HttpRequest) -> HttpResponse:
    """Step one: user name and password."""
    next_url = request.POST.get("next") or request.GET.get("next", "")
    if request.user.is_authenticated:
        return redirect(_next(request, next_url))
    error = ""
    username = ""
    status = 200
    if request.method == "POST":
        username = request.POST.get("username", "").strip()[:150]
        try:
            user = login.check_password(
                username,
                request.POST.get("password", ""),
                channel="web",
                client=_client(request),
            )
        except (errors.Unauthenticated, errors.Throttled) as exc:
            error = _refusal(exc)
            status = 429 if isinstance(exc, errors.Throttled) else 200
        else:
            if not twofactor.is_enabled(user):
                return _finish(request, user, next_url)
            request.session[PENDING] = {"user": user.pk, "at": time.time(), "next": next_url}
            return redirect("login-code")
    return render(
        request,
        "web/login.html",
        {"error": error, "username": username, "next": next_url},
        status=status,
    )


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def login_code(request: HttpRequest) -> HttpResponse:
    """Step two, for accounts with two-factor log-in: the app's code or a recovery code."""
    pending = request.session.get(PENDING)
    user = None
    next_url = ""
    if isinstance(pending, dict) and time.time() - float(pending.get("at", 0)) < PENDING_SECONDS:
        user = User.objects.filter(pk=int(pending.get("user", 0)), is_active=True).first()
        next_url = str(pending.get("next", ""))
    if user is None:
        request.session.pop(PENDING, None)
        messages.info(request, _("Log in again, please."))
        return redirect("login")
    error = ""
    status = 200
    if request.method == "POST":
        try:
            login.check_second_factor(
                user, request.POST.get("code", ""), channel="web", client=_client(request)
            )
        except errors.Throttled as exc:
            request.session.pop(PENDING, None)
            messages.error(request, _refusal(exc))
            return redirect("login")
        except errors.Unauthenticated as exc:
            error = _refusal(exc)
            status = 400
        else:
            return _finish(request, user, next_url)
    return render(request, "web/login_code.html", {"error": error}, status=status)


@require_POST
@portal_view
def end_all_sessions(request: HttpRequest) -> HttpResponse:
    """ "Log out everywhere": every session of the user ends, this one too."""
    login.end_all_sessions(actor(request))
    logout(request)
    messages.success(request, _("You were logged out on every device and browser."))
    return redirect("login")
