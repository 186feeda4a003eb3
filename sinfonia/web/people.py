"""Users, Groups, My profile (details, password, API keys) and the recycle bin."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import Membership, Role, Scope
from sinfonia.accounts.services import apikeys, groups, users
from sinfonia.core import errors
from sinfonia.resources.services import trash
from sinfonia.web.common import actor, portal_view


@portal_view
def user_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    listed = users.list_users(actor(request), query=query)
    return render(request, "web/users.html", {"users": listed, "q": query})


@portal_view
def group_list(request: HttpRequest) -> HttpResponse:
    a = actor(request)
    assert a.user is not None
    visible = list(groups.visible_groups(a).order_by("name"))
    mine = set(Membership.objects.filter(user=a.user).values_list("group_id", flat=True))
    return render(
        request,
        "web/groups.html",
        {
            "mine": [g for g in visible if g.id in mine],
            "others": [g for g in visible if g.id not in mine],
        },
    )


@portal_view
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    a = actor(request)
    group = groups.get_group(a, group_id)
    role = groups.role_of(a, group)
    return render(
        request,
        "web/group.html",
        {
            "group": group,
            "members": groups.members(a, group).select_related("user"),
            "may_admin": a.is_site_admin or role == Role.ADMIN,
            "roles": Role.choices,
        },
    )


@require_POST
@portal_view
def group_member(request: HttpRequest, group_id: int) -> HttpResponse:
    """Add, change or remove a member (group and site administrators)."""
    a = actor(request)
    group = groups.get_group(a, group_id)
    try:
        user = users.find_user(request.POST.get("username", "").strip())
        if request.POST.get("action") == "remove":
            groups.remove_member(a, group, user)
        else:
            groups.set_member(a, group, user, Role(request.POST.get("role", Role.MEMBER)))
    except (errors.Invalid, errors.Conflict, errors.NotFound, ValueError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("group", group_id=group.id)


def _expiry(raw: str) -> datetime | None:
    """The end (UTC) of the day picked in the profile's date field, or None when left empty."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise errors.Invalid(AccountError.INVALID_API_KEY, _("Give the expiry as a date.")) from exc
    return datetime.combine(day, time.max, tzinfo=UTC)


@portal_view
def profile(request: HttpRequest) -> HttpResponse:
    a = actor(request)
    user = a.user
    assert user is not None
    new_key = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "details":
                users.update_user(
                    a,
                    user,
                    email=request.POST.get("email", ""),
                    first_name=request.POST.get("first_name", ""),
                    last_name=request.POST.get("last_name", ""),
                )
                messages.success(request, _("Your details were saved."))
            elif action == "password":
                if request.POST.get("new") != request.POST.get("confirm"):
                    raise errors.Invalid(AccountError.WEAK_PASSWORD, _("The passwords differ."))
                users.set_password(
                    a, user, request.POST.get("new", ""), old=request.POST.get("old", "")
                )
                update_session_auth_hash(request, user)
                messages.success(request, _("Your password was changed."))
            elif action == "create-key":
                _key, new_key = apikeys.create_api_key(
                    a,
                    user,
                    request.POST.get("name", "")[:100],
                    scope=request.POST.get("scope", Scope.READ_WRITE),
                    expires_at=_expiry(request.POST.get("expires", "")),
                )
            elif action == "revoke-key":
                key_id = request.POST.get("key_id", "")
                apikeys.revoke_api_key(a, int(key_id) if key_id.isdigit() else 0)
                messages.success(request, _("The key was revoked."))
        except (errors.Invalid, errors.Conflict) as exc:
            messages.error(request, exc.message)
        if not new_key:
            return redirect("profile")
    return render(
        request,
        "web/profile.html",
        {"keys": apikeys.list_api_keys(a, user), "new_key": new_key, "profile_user": user},
    )


@portal_view
def trash_page(request: HttpRequest) -> HttpResponse:
    a = actor(request)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "restore":
                node = trash.restore(a, int(request.POST.get("item_id", "0")))
                messages.success(request, _("“%(name)s” is back in place.") % {"name": node.name})
            elif action == "purge":
                trash.purge(a, int(request.POST.get("item_id", "0")))
                messages.success(request, _("Deleted for good."))
            elif action == "purge-all":
                count = trash.purge_all(a)
                messages.success(request, _("%(n)d elements deleted for good.") % {"n": count})
        except (errors.Conflict, errors.Invalid, ValueError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("trash")
    return render(request, "web/trash.html", {"items": trash.bin_of(a)[:500]})
