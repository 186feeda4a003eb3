"""Users, groups, memberships, API keys, and the session."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.contrib.auth import login, logout
from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import Router, Schema, Status
from pydantic import Field

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import ApiKey, Group, Membership, Role, User
from sinfonia.accounts.services import apikeys, groups, twofactor, users
from sinfonia.accounts.services import login as login_service
from sinfonia.api.common import actor, client_address
from sinfonia.api.resources import ERRORS
from sinfonia.api.schemas import ErrorOut
from sinfonia.core.errors import PermissionDenied
from sinfonia.resources.models import Node
from sinfonia.resources.services.tree import ensure_home

router = Router(tags=["accounts"])
session_router = Router(tags=["session"])


class UserOut(Schema):
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    site_admin: bool
    is_active: bool
    home_id: int | None

    @staticmethod
    def of(u: User) -> dict[str, Any]:
        return {
            "id": u.id,
            "username": u.username,
            "email": u.email,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "site_admin": u.is_superuser,
            "is_active": u.is_active,
            "home_id": _home_id(u),
        }


def _home_id(user: User) -> int:
    try:
        return user.home_collection.id
    except Node.DoesNotExist:  # accounts made outside Sinfonia's services (e.g. Django shell)
        return ensure_home(user).id


class UserIn(Schema):
    username: str
    password: str | None = Field(None, description="generated and returned once if omitted")
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    site_admin: bool = False


class UserCreatedOut(UserOut):
    generated_password: str | None = None


class UserPatch(Schema):
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_active: bool | None = None
    site_admin: bool | None = None


class PasswordIn(Schema):
    new_password: str
    old_password: str | None = None


@router.get("/users", response=list[UserOut], summary="Accounts (for pickers and the Users page)")
def list_users(request: HttpRequest, q: str = "") -> list[dict[str, Any]]:
    return [UserOut.of(u) for u in users.list_users(actor(request), query=q)]


@router.post("/users", response={201: UserCreatedOut, **ERRORS}, summary="Create an account")
def create_user(request: HttpRequest, body: UserIn) -> Status[dict[str, Any]]:
    user, generated = users.create_user(
        actor(request),
        body.username,
        password=body.password,
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        site_admin=body.site_admin,
    )
    return Status(201, {**UserOut.of(user), "generated_password": generated})


@router.get("/users/me", response=UserOut)
def me(request: HttpRequest) -> dict[str, Any]:
    a = actor(request)
    assert a.user is not None
    return UserOut.of(a.user)


@router.get("/users/{user_id}", response={200: UserOut, **ERRORS})
def get_user(request: HttpRequest, user_id: int) -> dict[str, Any]:
    return UserOut.of(users.get_user(actor(request), user_id))


@router.patch("/users/{user_id}", response={200: UserOut, **ERRORS})
def update_user(request: HttpRequest, user_id: int, body: UserPatch) -> dict[str, Any]:
    a = actor(request)
    user = users.update_user(a, users.get_user(a, user_id), **body.dict(exclude_unset=True))
    return UserOut.of(user)


@router.put("/users/{user_id}/password", response={204: None, **ERRORS})
def set_password(request: HttpRequest, user_id: int, body: PasswordIn) -> Status[None]:
    a = actor(request)
    users.set_password(a, users.get_user(a, user_id), body.new_password, old=body.old_password)
    return Status(204, None)


ScopeName = Literal["read", "read-write"]


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    scope: ScopeName

    @staticmethod
    def of(k: ApiKey) -> dict[str, Any]:
        return {
            "id": k.id,
            "name": k.name,
            "prefix": k.prefix,
            "created_at": k.created_at,
            "last_used_at": k.last_used_at,
            "expires_at": k.expires_at,
            "scope": k.scope,
        }


class ApiKeyIn(Schema):
    name: str = Field("", max_length=255)
    expires_at: datetime | None = None
    scope: ScopeName = Field(
        "read-write", description="`read`: list, search and download only; `read-write`: all"
    )


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="the secret; shown this once only")


@router.get("/users/{user_id}/api-keys", response={200: list[ApiKeyOut], **ERRORS})
def list_keys(request: HttpRequest, user_id: int) -> list[dict[str, Any]]:
    a = actor(request)
    return [ApiKeyOut.of(k) for k in apikeys.list_api_keys(a, users.get_user(a, user_id))]


@router.post("/users/{user_id}/api-keys", response={201: ApiKeyCreatedOut, **ERRORS})
def create_key(request: HttpRequest, user_id: int, body: ApiKeyIn) -> Status[dict[str, Any]]:
    a = actor(request)
    key, secret = apikeys.create_api_key(
        a, users.get_user(a, user_id), body.name, expires_at=body.expires_at, scope=body.scope
    )
    return Status(201, {**ApiKeyOut.of(key), "key": secret})


@router.delete("/api-keys/{key_id}", response={204: None, **ERRORS})
def revoke_key(request: HttpRequest, key_id: int) -> Status[None]:
    apikeys.revoke_api_key(actor(request), key_id)
    return Status(204, None)


RoleName = Literal["admin", "member"]


class GroupOut(Schema):
    id: int
    name: str
    description: str
    public: bool
    my_role: RoleName | None


class GroupIn(Schema):
    name: str
    description: str = ""
    public: bool = True


class GroupPatch(Schema):
    name: str | None = None
    description: str | None = None
    public: bool | None = None


class MemberOut(Schema):
    user_id: int
    username: str
    role: RoleName


class MemberIn(Schema):
    role: RoleName = "member"


def _group(request: HttpRequest, g: Group) -> dict[str, Any]:
    role = groups.role_of(actor(request), g)
    return {
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "public": g.public,
        "my_role": role.value if role else None,
    }


def _member(m: Membership) -> dict[str, Any]:
    return {"user_id": m.user_id, "username": m.user.username, "role": m.role}


@router.get("/groups", response=list[GroupOut], summary="Public groups and yours")
def list_groups(request: HttpRequest) -> list[dict[str, Any]]:
    return [_group(request, g) for g in groups.visible_groups(actor(request))]


@router.post("/groups", response={201: GroupOut, **ERRORS})
def create_group(request: HttpRequest, body: GroupIn) -> Status[dict[str, Any]]:
    g = groups.create_group(
        actor(request), body.name, description=body.description, public=body.public
    )
    return Status(201, _group(request, g))


@router.get("/groups/{group_id}", response={200: GroupOut, **ERRORS})
def get_group(request: HttpRequest, group_id: int) -> dict[str, Any]:
    return _group(request, groups.get_group(actor(request), group_id))


@router.patch("/groups/{group_id}", response={200: GroupOut, **ERRORS})
def update_group(request: HttpRequest, group_id: int, body: GroupPatch) -> dict[str, Any]:
    a = actor(request)
    g = groups.update_group(a, groups.get_group(a, group_id), **body.dict(exclude_unset=True))
    return _group(request, g)


@router.delete("/groups/{group_id}", response={204: None, **ERRORS})
def delete_group(request: HttpRequest, group_id: int) -> Status[None]:
    a = actor(request)
    groups.delete_group(a, groups.get_group(a, group_id))
    return Status(204, None)


@router.get("/groups/{group_id}/members", response={200: list[MemberOut], **ERRORS})
def list_members(request: HttpRequest, group_id: int) -> list[dict[str, Any]]:
    a = actor(request)
    return [_member(m) for m in groups.members(a, groups.get_group(a, group_id))]


@router.put(
    "/groups/{group_id}/members/{user_id}",
    response={200: MemberOut, **ERRORS},
    summary="Add a member or change their role",
)
def set_member(request: HttpRequest, group_id: int, user_id: int, body: MemberIn) -> dict[str, Any]:
    a = actor(request)
    m = groups.set_member(
        a, groups.get_group(a, group_id), users.get_user(a, user_id), Role(body.role)
    )
    return _member(m)


@router.delete("/groups/{group_id}/members/{user_id}", response={204: None, **ERRORS})
def remove_member(request: HttpRequest, group_id: int, user_id: int) -> Status[None]:
    a = actor(request)
    groups.remove_member(a, groups.get_group(a, group_id), users.get_user(a, user_id))
    return Status(204, None)


class UploadTokenOut(Schema):
    token: str
    expires_at: datetime


@router.post(
    "/upload-tokens",
    response={201: UploadTokenOut, **ERRORS},
    summary="A token for resumable uploads that outlives the browser session",
)
def upload_token(request: HttpRequest) -> Status[dict[str, Any]]:
    token, expires = apikeys.issue_upload_token(actor(request))
    return Status(201, {"token": token, "expires_at": expires})


class LoginIn(Schema):
    username: str
    password: str
    otp: str | None = Field(
        None, description="the authenticator app's code (or a recovery code), for 2FA accounts"
    )


class SessionOut(Schema):
    user: UserOut
    csrf_token: str


@session_router.post(
    "/session",
    auth=None,
    response={200: SessionOut, 401: ErrorOut, 403: ErrorOut, 415: ErrorOut, 429: ErrorOut},
    summary="Sign in with a password (and a code with 2FA); sets the session cookie",
    description="401 `bad_credentials`, `otp_required` or `bad_otp`; 429 `too_many_failures` "
    "after repeated failures; 403 `two_factor_required` for a site administrator who must "
    "set up two-factor log-in (in the portal) first; 415 `json_required` (a JSON body only) "
    "and 403 `foreign_origin`: login CSRF protection.",
)
def sign_in(request: HttpRequest, body: LoginIn) -> Any:
    # No CSRF token exists before signing in, so login CSRF (a foreign page signing the victim
    # in to the attacker's account) is stopped otherwise: a JSON body, which a cross-site form
    # cannot send without a CORS preflight, and no foreign Origin.
    if request.content_type != "application/json":
        return Status(415, {"code": "json_required", "detail": "Send the body as JSON."})
    origin = request.headers.get("Origin")
    if origin and origin != f"{request.scheme}://{request.get_host()}":
        return Status(403, {"code": "foreign_origin", "detail": "Sign in from this site."})
    user = login_service.check_credentials(
        body.username, body.password, body.otp, channel="api", client=client_address(request)
    )
    if twofactor.enrolment_required(user):
        raise PermissionDenied(
            AccountError.TWO_FACTOR_REQUIRED,
            "Site administrators must set up two-factor log-in: do it in the portal first.",
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return {"user": UserOut.of(user), "csrf_token": get_token(request)}


@session_router.delete("/session", response={204: None}, summary="Sign out")
def sign_out(request: HttpRequest) -> Status[None]:
    logout(request)
    return Status(204, None)
