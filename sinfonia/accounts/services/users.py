from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import User
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from sinfonia.resources.services.tree import ensure_home

USERNAME = re.compile(r"^[\w][\w.@+-]{0,149}$")


def require_site_admin(actor: Actor, what: str) -> None:
    if not actor.is_authenticated:
        raise Unauthenticated(AccountError.LOGIN_REQUIRED, "Sign in first.")
    if not actor.is_site_admin:
        raise PermissionDenied(AccountError.NOT_SITE_ADMIN, f"Only site administrators {what}.")


def _check_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise Invalid(AccountError.WEAK_PASSWORD, " ".join(exc.messages)) from exc


def generate_password() -> str:
    return secrets.token_urlsafe(15)


@transaction.atomic
def create_user(
    actor: Actor,
    username: str,
    *,
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    site_admin: bool = False,
) -> tuple[User, str | None]:
    """Create an account and its personal collection. Site administrators only.

    Returns the user and, when no password was given, the generated one (shown once).
    """
    actor.require_write()
    require_site_admin(actor, "create accounts")
    generated = None
    if password is None:
        password = generated = generate_password()
    user = _new_user(
        actor,
        User(username=username, email=email, first_name=first_name, last_name=last_name),
        password=password,
        site_admin=site_admin,
    )
    return user, generated


@transaction.atomic
def create_directory_user(
    actor: Actor,
    username: str,
    *,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    site_admin: bool = False,
    source: str = "ldap",
) -> User:
    """Create the local account of a person whom a directory (``source``) vouches for.

    The account has no usable local password (the directory checks it) but is otherwise what
    `create_user` makes: a personal collection and a ``user.create`` audit event. Called by the
    directory's authentication backend, as a system actor, on a person's first sign-in.
    """
    require_site_admin(actor, "create accounts")
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    return _new_user(actor, user, password=None, site_admin=site_admin, source=source)


def _new_user(
    actor: Actor, user: User, *, password: str | None, site_admin: bool, source: str = ""
) -> User:
    username = user.username
    if not USERNAME.match(username):
        raise Invalid(
            AccountError.INVALID_USERNAME,
            "A user name is 1-150 letters, digits and . @ + - _ (no spaces).",
        )
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(AccountError.USERNAME_TAKEN, f"The user name {username!r} is taken.")
    user.is_superuser = user.is_staff = site_admin
    if password is None:
        user.set_unusable_password()
    else:
        _check_password(password, user)
        user.set_password(password)
    user.save()
    ensure_home(user)
    extra = {"source": source} if source else {}
    record(actor, "user.create", None, target=username, site_admin=site_admin, **extra)
    return user


def get_user(actor: Actor, user_id: int) -> User:
    if not actor.is_authenticated:
        raise Unauthenticated(AccountError.LOGIN_REQUIRED, "Sign in first.")
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None and actor.is_site_admin:
        user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound(AccountError.USER_NOT_FOUND, "No such user.")
    return user


def find_user(username: str) -> User:
    """The account named ``username``. With an LDAP directory configured, a directory person
    who has not signed in yet gets their account now, so that administrators can name them
    (group members, DICOM AE title mappings) before their first sign-in."""
    user = User.objects.filter(username=username).first()
    if user is None and settings.SINFONIA_LDAP is not None and USERNAME.match(username):
        from sinfonia.accounts import directory  # needs the optional python-ldap

        user = directory.provision(username)
    if user is None:
        raise NotFound(AccountError.USER_NOT_FOUND, f"No user named {username!r}.")
    return user


@transaction.atomic
def update_user(
    actor: Actor,
    user: User,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    is_active: bool | None = None,
    site_admin: bool | None = None,
) -> User:
    """Edit profile details (the user or a site administrator); status flags need the latter,
    and never on one's own account (no locking oneself out)."""
    actor.require_write()
    if not actor.is_site_admin and (actor.user is None or actor.user.pk != user.pk):
        raise PermissionDenied(AccountError.NOT_SITE_ADMIN, "You may edit only your own profile.")
    if (is_active is not None or site_admin is not None) and not actor.is_site_admin:
        raise PermissionDenied(
            AccountError.NOT_SITE_ADMIN, "Only site administrators change account status."
        )
    own = actor.user is not None and actor.user.pk == user.pk
    if own and (is_active is False or site_admin is False):
        raise Invalid(
            AccountError.SELF_LOCKOUT,
            "You may not deactivate your own account or give up your own site administration "
            "(another site administrator can).",
        )
    if email is not None:
        user.email = email
    if first_name is not None:
        user.first_name = first_name
    if last_name is not None:
        user.last_name = last_name
    if is_active is not None:
        user.is_active = is_active
    if site_admin is not None:
        user.is_superuser = user.is_staff = site_admin
    user.save()
    record(actor, "user.update", None, target=user.username)
    return user


def is_directory_account(user: User) -> bool:
    """Whether ``user`` signs in with the LDAP directory's password (no local one)."""
    return settings.SINFONIA_LDAP is not None and not user.has_usable_password()


@transaction.atomic
def set_password(actor: Actor, user: User, new: str, *, old: str | None = None) -> None:
    """Change a password: users give their current one; site administrators need not."""
    actor.require_write()
    own = actor.user is not None and actor.user.pk == user.pk
    if not own:
        require_site_admin(actor, "set other people's passwords")
    if is_directory_account(user):
        raise Invalid(
            AccountError.DIRECTORY_ACCOUNT,
            f"{user.username} signs in with the LDAP directory: change the password there.",
        )
    if own and not actor.is_site_admin and (old is None or not user.check_password(old)):
        raise Invalid(AccountError.WEAK_PASSWORD, "The current password is wrong.")
    _check_password(new, user)
    user.set_password(new)
    user.save(update_fields=["password"])
    record(actor, "user.password", None, target=user.username)


def list_users(actor: Actor, *, query: str = "") -> list[User]:
    """Active accounts, for every signed-in user (the Users page, ACL pickers)."""
    if not actor.is_authenticated:
        raise Unauthenticated(AccountError.LOGIN_REQUIRED, "Sign in first.")
    qs = User.objects.select_related("home_collection")
    qs = qs if actor.is_site_admin else qs.filter(is_active=True)
    if query:
        qs = qs.filter(username__icontains=query)
    return list(qs.order_by("username"))
