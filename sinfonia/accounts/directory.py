"""Sign-in against an LDAP directory: a Django authentication backend on django-auth-ldap.

Loaded only when ``SINFONIA_LDAP_URL`` is set (``settings.SINFONIA_LDAP``); it needs the
``sinfonia[ldap]`` extra (python-ldap, django-auth-ldap). Every front-end that takes a password
(portal, REST session, SFTP) calls Django's ``authenticate()``, which tries local passwords
first (ModelBackend) and this backend second. A successful directory sign-in:

- creates the local account on first sign-in through `users.create_directory_user` (personal
  collection and audit event as for any account; no usable local password);
- refreshes first name, last name and e-mail from the directory;
- makes the account a site administrator exactly when the person is in the
  ``SINFONIA_LDAP_ADMIN_GROUP`` group (when one is configured);
- mirrors the ``SINFONIA_LDAP_MIRROR_GROUPS`` groups into Sinfonia groups
  (`groups.mirror_memberships`): joined when in the directory group, left when not.

An account with a usable local password is a local account: the directory is not asked about
it, so a directory entry of the same name cannot take it over. Locked directory accounts
(OpenLDAP ppolicy ``pwdAccountLockedTime``, or anything else that makes the bind fail or the
user filter miss) are refused; a locally deactivated account is refused too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import ldap
import ldap.filter
from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django_auth_ldap.backend import LDAPBackend
from django_auth_ldap.config import (
    GroupOfNamesType,
    GroupOfUniqueNamesType,
    LDAPGroupType,
    LDAPSearch,
    PosixGroupType,
)

from sinfonia.accounts.models import User
from sinfonia.accounts.services import groups, users
from sinfonia.core.context import Actor
from sinfonia.core.errors import ServiceError

log = logging.getLogger("sinfonia.ldap")

# OpenLDAP ppolicy: pwdAccountLockedTime with this value is a lock set by an administrator
# (until removed); any other value is a lock-out after failed binds, which expires by policy.
LOCKED_BY_ADMINISTRATOR = "000001010000Z"
LOCK_ATTRIBUTE = "pwdAccountLockedTime"

GROUP_TYPES: dict[str, type[LDAPGroupType]] = {
    "groupOfNames": GroupOfNamesType,
    "groupOfUniqueNames": GroupOfUniqueNamesType,
    "posixGroup": PosixGroupType,
}


def config() -> dict[str, Any]:
    conf: dict[str, Any] | None = getattr(settings, "SINFONIA_LDAP", None)
    if conf is None:
        raise RuntimeError("LDAP is not configured (SINFONIA_LDAP_URL)")
    return conf


def actor() -> Actor:
    """Who creates accounts and mirrors groups on the directory's word (audit: channel ldap)."""
    return Actor(user=None, channel="ldap", client=config()["url"], system=True)


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def django_auth_ldap_settings(conf: dict[str, Any]) -> dict[str, Any]:
    """django-auth-ldap's settings (without their ``AUTH_LDAP_`` prefix) for ``conf``."""
    options: dict[int, Any] = {
        ldap.OPT_NETWORK_TIMEOUT: conf["timeout"],
        ldap.OPT_TIMEOUT: conf["timeout"],
        ldap.OPT_REFERRALS: 0,
    }
    if conf["ca_file"]:
        options[ldap.OPT_X_TLS_CACERTFILE] = conf["ca_file"]
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: applies the TLS options above
    attr_map = {}  # checked by settings.ldap_settings
    for pair in _split(conf["user_attrs"]):
        field, _, attribute = pair.partition("=")
        attr_map[field.strip()] = attribute.strip()
    result: dict[str, Any] = {
        "SERVER_URI": conf["url"],
        "BIND_DN": conf["bind_dn"],
        "BIND_PASSWORD": conf["bind_password"],
        "START_TLS": conf["starttls"],
        "CONNECTION_OPTIONS": options,
        "USER_SEARCH": LDAPSearch(conf["user_base"], ldap.SCOPE_SUBTREE, conf["user_filter"]),
        "USER_ATTR_MAP": attr_map,
        "ALWAYS_UPDATE_USER": True,
        "CACHE_TIMEOUT": 0,
        "REQUIRE_GROUP": conf["require_group"] or None,
    }
    if conf["group_base"]:
        kind = conf["group_type"]  # one of GROUP_TYPES, checked by settings.ldap_settings
        group_filter = conf["group_filter"] or f"(objectClass={kind})"
        result["GROUP_SEARCH"] = LDAPSearch(conf["group_base"], ldap.SCOPE_SUBTREE, group_filter)
        result["GROUP_TYPE"] = GROUP_TYPES[kind]()
    return result


class DirectoryBackend(LDAPBackend):  # type: ignore[misc]  # django-auth-ldap is untyped
    """django-auth-ldap configured from ``settings.SINFONIA_LDAP``, creating accounts and
    mirroring groups through Sinfonia's services."""

    # Nothing in Django's settings starts with this: ours come from SINFONIA_LDAP alone.
    settings_prefix = "SINFONIA_UNUSED_AUTH_LDAP_"

    @property
    def default_settings(self) -> dict[str, Any]:
        return django_auth_ldap_settings(config())

    # -- Django's entry points --------------------------------------------------------------------
    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or not password:
            return None
        username = username.strip()
        local = User.objects.filter(username__iexact=username).first()
        if local is not None and local.has_usable_password():
            return None  # a local account: ModelBackend alone decides
        try:
            user = super().authenticate(request, username=username, password=password, **kwargs)
        except ServiceError as exc:
            log.warning("LDAP sign-in of %r refused: %s", username, exc)
            return None
        if not isinstance(user, User) or not user.is_active:
            return None
        return user

    def get_user(self, user_id: int) -> User | None:
        """The user of a session signed in with this backend; none once deactivated (as
        Django's ModelBackend does), so `sync` ends portal sessions too."""
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is not None:
            user = super().get_user(user_id)  # attaches django-auth-ldap's ldap_user
        return user if isinstance(user, User) and user.is_active else None

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        user = ldap_user.authenticate(password)
        if not isinstance(user, User) or not user.is_active:
            return None
        try:
            self._sync(user, ldap_user)
        except ldap.LDAPError as exc:  # as django-auth-ldap does: no sign-in with stale groups
            log.warning("LDAP sign-in of %s refused: groups not read: %s", user.username, exc)
            return None
        return user

    def populate_user(self, username: str) -> User | None:
        """The account of directory person ``username`` (created if new, refreshed if not)
        without their password: for naming someone before their first sign-in."""
        local = User.objects.filter(username__iexact=username).first()
        if local is not None and local.has_usable_password():
            return local
        user = super().populate_user(username)
        if not isinstance(user, User):
            return None
        try:
            self._sync(user, getattr(user, "ldap_user"))  # noqa: B009  # set by django-auth-ldap
        except ldap.LDAPError as exc:  # the account stands; its groups follow at sign-in
            log.warning("groups of %s not read from the directory: %s", user.username, exc)
        return user

    # -- django-auth-ldap's hooks -----------------------------------------------------------------
    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        """The account, created through the service layer on first sign-in."""
        username = username.lower()
        user = User.objects.filter(username__iexact=username).first()
        if user is None:
            fields = {
                field: str(values[0])
                for field, attribute in self.settings.USER_ATTR_MAP.items()
                if (values := ldap_user.attrs.get(attribute))
            }
            user = users.create_directory_user(
                actor(), username, site_admin=self._is_admin(ldap_user), **fields
            )
            log.info("created account %s for %s", username, ldap_user.dn)
        elif user.has_usable_password():
            raise ldap_user.AuthenticationFailed(f"{username} is a local account")
        return user, False  # saved already: django-auth-ldap must not treat it as new

    # -- groups ------------------------------------------------------------------------------------
    def _is_admin(self, ldap_user: Any) -> bool:
        admin_group = config()["admin_group"]
        if not admin_group:
            return False
        return admin_group.casefold() in {name.casefold() for name in ldap_user.group_names}

    def _sync(self, user: User, ldap_user: Any) -> None:
        conf = config()
        if conf["admin_group"]:
            site_admin = self._is_admin(ldap_user)
            if user.is_superuser != site_admin:
                users.update_user(actor(), user, site_admin=site_admin)
        if mirrored := set(_split(conf["mirror_groups"])):
            joined, left = groups.mirror_memberships(
                actor(), user, set(ldap_user.group_names), mirrored
            )
            if joined or left:
                log.info("%s joined %s and left %s", user.username, joined, left)


def _connect(conf: dict[str, Any]) -> Any:
    """A connection bound as the service account (python-ldap errors propagate)."""
    conn = ldap.initialize(conf["url"])
    for option, value in django_auth_ldap_settings(conf)["CONNECTION_OPTIONS"].items():
        conn.set_option(option, value)
    if conf["starttls"]:
        conn.start_tls_s()
    conn.simple_bind_s(conf["bind_dn"], conf["bind_password"])
    return conn


@dataclass
class SyncReport:
    checked: int = 0
    deactivated: dict[str, str] = field(default_factory=dict)  # user name: why


def sync(actor: Actor) -> SyncReport:
    """Deactivate the active directory accounts that the directory no longer vouches for: not
    found by the user filter any more, or locked by an administrator (OpenLDAP ppolicy's
    permanent ``pwdAccountLockedTime``). Their API keys, SSH keys and DIMSE mappings stop
    working with it; a sign-in cannot reactivate them (a site administrator can). Lock-outs
    after failed passwords, which expire, are left alone. Site administrators only.

    An unreachable directory raises ``ldap.LDAPError`` before anyone is deactivated.
    """
    users.require_site_admin(actor, "synchronise accounts with the directory")
    conf = config()
    report = SyncReport()
    conn = _connect(conf)
    try:
        accounts = User.objects.filter(
            is_active=True, password__startswith=UNUSABLE_PASSWORD_PREFIX
        ).order_by("username")
        for user in accounts:
            report.checked += 1
            filterstr = conf["user_filter"] % {
                "user": ldap.filter.escape_filter_chars(user.username)
            }
            found = [
                attrs
                for dn, attrs in conn.search_s(
                    conf["user_base"], ldap.SCOPE_SUBTREE, filterstr, ["uid", LOCK_ATTRIBUTE]
                )
                if dn is not None  # referrals come back without a DN
            ]
            if len(found) != 1:
                why = "not in the directory"
            elif LOCKED_BY_ADMINISTRATOR.encode() in found[0].get(LOCK_ATTRIBUTE, []):
                why = "locked in the directory"
            else:
                continue
            users.update_user(actor, user, is_active=False)
            report.deactivated[user.username] = why
            log.info("deactivated %s: %s", user.username, why)
    finally:
        conn.unbind_s()
    return report


def provision(username: str) -> User | None:
    """The account of directory person ``username``, created when the directory knows them and
    they have not signed in yet; None when the directory does not know them."""
    return DirectoryBackend().populate_user(username)
