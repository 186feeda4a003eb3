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


def _text(request: HttpRequest, name: str) -> str:
    """A form field, without surrounding blanks ("" when missing)."""
    return request.POST.get(name, "").strip()


def _flag(request: HttpRequest, name: str) -> bool:
    return request.POST.get(name) in ("1", "on", "true")


@portal_view
def user_list(request: HttpRequest) -> HttpResponse:
    """Everyone with an account; site administrators also create accounts here (the
    generated password is shown once, in the answer to the creation)."""
    a = actor(request)
    created = None
    password = ""
    if request.method == "POST":
        try:
            created, generated = users.create_user(
                a,
                _text(request, "username"),
                email=_text(request, "email"),
                first_name=_text(request, "first_name"),
                last_name=_text(request, "last_name"),
                site_admin=_flag(request, "site_admin"),
            )
            password = generated or ""
        except (errors.Invalid, errors.Conflict) as exc:
            messages.error(request, exc.message)
            return redirect("users")
    query = request.GET.get("q", "")[:100]
    listed = users.list_users(a, query=query)
    return render(
        request,
        "web/users.html",
        {"users": listed, "q": query, "created": created, "new_password": password},
    )


@portal_view
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    """A site administrator's page for one account: details, active, site administrator,
    password reset (a generated password, shown once)."""
    a = actor(request)
    users.require_site_admin(a, "manage accounts")
    user = users.get_user(a, user_id)
    password = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "details":
                users.update_user(
                    a,
                    user,
                    email=_text(request, "email"),
                    first_name=_text(request, "first_name"),
                    last_name=_text(request, "last_name"),
                )
                messages.success(request, _("The details were saved."))
            elif action in ("activate", "deactivate"):
                users.update_user(a, user, is_active=action == "activate")
                messages.success(
                    request,
                    _("The account is active.")
                    if user.is_active
                    else _("The account is deactivated: it can no longer sign in."),
                )
            elif action in ("grant-admin", "revoke-admin"):
                users.update_user(a, user, site_admin=action == "grant-admin")
                messages.success(
                    request,
                    _("%(name)s is a site administrator.") % {"name": user.username}
                    if user.is_superuser
                    else _("%(name)s is no longer a site administrator.") % {"name": user.username},
                )
            elif action == "reset-password":
                password = users.generate_password()
                users.set_password(a, user, password)
        except (errors.Invalid, errors.Conflict) as exc:
            messages.error(request, exc.message)
        if not password:
            return redirect("user", user_id=user.id)
    return render(
        request,
        "web/user.html",
        {"account": user, "new_password": password, "is_self": a.user == user},
    )


@portal_view
def group_list(request: HttpRequest) -> HttpResponse:
    """Your groups and the other visible ones; any user creates a group here (and becomes
    its administrator)."""
    a = actor(request)
    assert a.user is not None
    if request.method == "POST":
        try:
            group = groups.create_group(
                a,
                _text(request, "name"),
                description=_text(request, "description"),
                public=_flag(request, "public"),
            )
        except (errors.Invalid, errors.Conflict) as exc:
            messages.error(request, exc.message)
            return redirect("groups")
        messages.success(request, _("The group was created; you administer it."))
        return redirect("group", group_id=group.id)
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
    """A group's members and roles; its administrators (and site administrators) edit its
    name, description and visibility, or delete it."""
    a = actor(request)
    group = groups.get_group(a, group_id)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "edit":
                groups.update_group(
                    a,
                    group,
                    name=_text(request, "name"),
                    description=_text(request, "description"),
                    public=_flag(request, "public"),
                )
                messages.success(request, _("The group was saved."))
            elif action == "delete":
                name = group.name
                groups.delete_group(a, group)
                messages.success(request, _("The group “%(name)s” was deleted.") % {"name": name})
                return redirect("groups")
        except (errors.Invalid, errors.Conflict) as exc:
            messages.error(request, exc.message)
        return redirect("group", group_id=group.id)
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
        user = users.find_user(_text(request, "username"))
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
        {
            "keys": apikeys.list_api_keys(a, user),
            "new_key": new_key,
            "profile_user": user,
            "directory_account": users.is_directory_account(user),
        },
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
