"""The profile page's two-factor card: set up (QR code, confirm with a code), recovery codes,
switch off. The card itself is the ``twofactor_card`` template tag."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.services import twofactor
from sinfonia.core import errors
from sinfonia.web.common import actor, portal_view

NEW_CODES = "sinfonia_new_recovery_codes"  # session: shown once by the card, then dropped


def _back() -> HttpResponse:
    return redirect(reverse("profile") + "#two-factor")


@require_POST
@portal_view
def two_factor(request: HttpRequest) -> HttpResponse:
    a = actor(request)
    action = request.POST.get("action")
    code = request.POST.get("code", "")
    try:
        if action == "start":
            twofactor.start_enrolment(a)
        elif action == "cancel":
            twofactor.cancel_enrolment(a)
        elif action == "confirm":
            request.session[NEW_CODES] = twofactor.confirm_enrolment(a, code)
            messages.success(request, _("Two-factor log-in is on."))
        elif action == "regenerate":
            request.session[NEW_CODES] = twofactor.regenerate_codes(a, code)
            messages.success(request, _("New recovery codes; the old ones no longer work."))
        elif action == "disable":
            twofactor.disable(a, request.POST.get("password", ""), code)
            messages.success(request, _("Two-factor log-in is off."))
    except errors.Invalid as exc:
        if exc.code == AccountError.BAD_CREDENTIALS:
            messages.error(request, _("The password is wrong."))
        else:
            messages.error(request, _("That code is wrong; check the phone's clock."))
    except errors.Conflict as exc:
        messages.error(request, exc.message)
    return _back()
