"""Response headers that harden every page: the portal's Content-Security-Policy.

Django's own ``SecurityMiddleware`` adds ``X-Content-Type-Options: nosniff``, the referrer and
opener policies, and, behind HTTPS (``SINFONIA_HTTPS=1``), HSTS; settings.py configures it.
This middleware adds the one header it lacks. See docs/security.md.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# The portal loads scripts, styles, fonts and images from its own origin only; no inline script
# or style (htmx's injected indicator style is switched off in base.html), no eval, no plugins.
# ``blob:``/``data:`` for the previewer's images and media and Bootstrap's inline SVG icons.
PORTAL_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)

# For stored files sent back to a browser: never run anything that is in them, even if a
# browser ignored the attachment disposition or the declared type.
SANDBOX_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'"


def content_security_policy() -> str:
    return str(getattr(settings, "SINFONIA_CSP", "") or PORTAL_POLICY)


class ContentSecurityPolicyMiddleware:
    """Add the portal's CSP to HTML responses that do not carry a policy of their own (an
    embedded viewer under /viewer/ sets a different one; file downloads set ``sandbox``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "text/html" and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
        return response
