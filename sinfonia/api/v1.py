"""Assembly of the /api/v1 front-end and its single error translator."""

from __future__ import annotations

from django.db import DataError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from sinfonia import __version__
from sinfonia.api import (
    accounts,
    acl,
    archives,
    audit,
    dicom,
    files,
    misc,
    operations,
    previews,
    resources,
    search,
    sftp,
    sshkeys,
    trash,
    twofactor,
)
from sinfonia.api.common import AUTH, status_for
from sinfonia.core import errors

api = NinjaAPI(
    title="Sinfonia API",
    version=__version__,
    description=(
        "REST API of the Sinfonia research data repository. Authenticate with the session "
        "cookie of the portal (plus the CSRF token on writes) or with "
        "`Authorization: Bearer <API key>`."
    ),
    auth=AUTH,
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(errors.ServiceError)
def service_error(request: HttpRequest, exc: errors.ServiceError) -> HttpResponse:
    response = api.create_response(
        request, {"code": str(exc.code), "detail": exc.message}, status=status_for(exc)
    )
    if isinstance(exc, errors.Throttled) and "retry_after" in exc.details:
        response["Retry-After"] = str(exc.details["retry_after"])
    return response


@api.exception_handler(OverflowError)
@api.exception_handler(DataError)
def out_of_range(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A number too large for the database (an id of 30 digits): the client's mistake."""
    return api.create_response(
        request,
        {"code": "out_of_range", "detail": "A number in the request is out of range."},
        status=400,
    )


api.add_router("", accounts.session_router)
api.add_router("", resources.router)
api.add_router("", files.router)
api.add_router("", archives.router)
api.add_router("", previews.router)
api.add_router("", operations.router)
api.add_router("", dicom.router)
api.add_router("", acl.router)
api.add_router("", trash.router)
api.add_router("", accounts.router)
api.add_router("", sshkeys.router)
api.add_router("", twofactor.router)
api.add_router("", sftp.router)
api.add_router("", search.router)
api.add_router("", misc.router)
api.add_router("", audit.router)
