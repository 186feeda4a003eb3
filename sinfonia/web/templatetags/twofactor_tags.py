"""``{% twofactor_card %}``: the profile page's "Two-factor authentication" and "Sessions"
cards (kept out of the profile view so the card travels with its own view module)."""

from __future__ import annotations

from typing import Any

from django import template

from sinfonia.accounts.services import twofactor
from sinfonia.web.common import actor
from sinfonia.web.twofactor import NEW_CODES

register = template.Library()


@register.inclusion_tag("web/partials/twofactor.html", takes_context=True)
def twofactor_card(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    a = actor(request)
    assert a.user is not None
    return {
        "csrf_token": context.get("csrf_token"),
        "status": twofactor.status(a),
        "enrolment": twofactor.pending_enrolment(a),
        "new_codes": request.session.pop(NEW_CODES, None),
        "required": twofactor.enrolment_required(a.user),
    }
