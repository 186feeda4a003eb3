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

from sinfonia.core.http import PORTAL_POLICY, SANDBOX_POLICY

__all__ = ["PORTAL_POLICY", "SANDBOX_POLICY", "ContentSecurityPolicyMiddleware"]


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
