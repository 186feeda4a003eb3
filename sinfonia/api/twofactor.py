"""Two-factor log-in of the signed-in user, and "log out everywhere"."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from sinfonia.accounts.services import login, twofactor, users
from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS

router = Router(tags=["two-factor"])


class TwoFactorOut(Schema):
    enabled: bool
    pending: bool = Field(description="set-up started, not confirmed with a code yet")
    recovery_codes_left: int


class EnrolmentOut(Schema):
    secret: str = Field(description="base32; type it into the app if the QR code won't scan")
    uri: str = Field(description="otpauth:// URI, what the QR code holds")
    qr_svg_data_uri: str


class CodeIn(Schema):
    code: str = Field(description="the app's current 6-digit code (or a recovery code)")


class DisableIn(Schema):
    password: str
    code: str


class RecoveryCodesOut(Schema):
    recovery_codes: list[str] = Field(description="single-use; shown this once only")


@router.get("/users/me/two-factor", response={200: TwoFactorOut, **ERRORS})
def get_status(request: HttpRequest) -> dict[str, Any]:
    s = twofactor.status(actor(request))
    return {
        "enabled": s.enabled,
        "pending": s.pending,
        "recovery_codes_left": s.recovery_codes_left,
    }


@router.post(
    "/users/me/two-factor",
    response={201: EnrolmentOut, **ERRORS},
    summary="Start setting up two-factor log-in (a new secret)",
)
def start(request: HttpRequest) -> Status[dict[str, Any]]:
    e = twofactor.start_enrolment(actor(request))
    return Status(201, {"secret": e.secret, "uri": e.uri, "qr_svg_data_uri": e.qr_svg_data_uri})


@router.post(
    "/users/me/two-factor/confirm",
    response={200: RecoveryCodesOut, **ERRORS},
    summary="Switch two-factor log-in on with the app's first code",
)
def confirm(request: HttpRequest, body: CodeIn) -> dict[str, Any]:
    return {"recovery_codes": twofactor.confirm_enrolment(actor(request), body.code)}


@router.post(
    "/users/me/two-factor/recovery-codes",
    response={200: RecoveryCodesOut, **ERRORS},
    summary="New recovery codes (the old ones stop working)",
)
def regenerate(request: HttpRequest, body: CodeIn) -> dict[str, Any]:
    return {"recovery_codes": twofactor.regenerate_codes(actor(request), body.code)}


@router.post(
    "/users/me/two-factor/disable",
    response={204: None, **ERRORS},
    summary="Switch two-factor log-in off (password and a code)",
)
def disable(request: HttpRequest, body: DisableIn) -> Status[None]:
    twofactor.disable(actor(request), body.password, body.code)
    return Status(204, None)


@router.delete(
    "/users/{user_id}/two-factor",
    response={204: None, **ERRORS},
    summary="Switch a user's two-factor log-in off without a code (site administrators)",
)
def reset(request: HttpRequest, user_id: int) -> Status[None]:
    a = actor(request)
    twofactor.reset(a, users.get_user(a, user_id))
    return Status(204, None)


@router.delete(
    "/users/me/sessions",
    response={204: None, **ERRORS},
    summary="Log out everywhere: end every session (this one too) and upload token",
)
def end_sessions(request: HttpRequest) -> Status[None]:
    login.end_all_sessions(actor(request))
    if getattr(request, "session", None) is not None:
        logout(request)
    return Status(204, None)
