"""Dispatch of the parsed command line to services (Django is set up by now)."""

from __future__ import annotations

import argparse
import sys

from django.conf import settings
from django.core.management import call_command

from sinfonia.accounts.models import Group, Role, Scope, User
from sinfonia.accounts.services import apikeys, groups, login, twofactor, users
from sinfonia.core.context import Actor
from sinfonia.core.errors import NotFound
from sinfonia.resources import selectors
from sinfonia.resources.services import trash, tree


def actor_for(args: argparse.Namespace) -> Actor:
    name = getattr(args, "as_user", None)
    if not name:
        return Actor.local_system()
    return Actor(user=users.find_user(name), channel="cli", client="local")


def _group(actor: Actor, name: str) -> Group:
    return groups.find_group(actor, name)


def run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from sinfonia.cli.serve import serve

        return serve(
            args.host,
            args.port,
            sftp_port=args.sftp_port,
            dicom_port=args.dicom_port,
            ae_title=args.ae_title,
        )
    if args.command == "check":
        from sinfonia.cli.check import check

        return check(fail_on_warning=args.fail_on_warning)
    call_command("migrate", interactive=False, verbosity=0)
    actor = actor_for(args)
    handler = HANDLERS[(args.command, getattr(args, "action", None))]
    return handler(actor, args)


def user_create(actor: Actor, args: argparse.Namespace) -> int:
    user, generated = users.create_user(
        actor, args.name, password=args.password, email=args.email, site_admin=args.admin
    )
    print(f"created user {user.username}{' (site administrator)' if args.admin else ''}")
    if generated:
        print(f"password: {generated}")
    return 0


def user_list(actor: Actor, args: argparse.Namespace) -> int:
    for u in users.list_users(actor):
        flags = ["admin"] if u.is_superuser else []
        if not u.is_active:
            flags.append("inactive")
        print(f"{u.username}\t{u.email}\t{','.join(flags)}")
    return 0


def user_set_password(actor: Actor, args: argparse.Namespace) -> int:
    user = users.find_user(args.name)
    password = args.password or users.generate_password()
    users.set_password(actor, user, password)
    if not args.password:
        print(f"password: {password}")
    return 0


def user_reset_2fa(actor: Actor, args: argparse.Namespace) -> int:
    was_on = twofactor.reset(actor, users.find_user(args.name))
    print(f"{args.name}: two-factor log-in {'switched off' if was_on else 'was off'}")
    return 0


def user_unlock(actor: Actor, args: argparse.Namespace) -> int:
    count = login.unlock(actor, args.name)
    print(f"{args.name}: {count} failed log-in(s) forgotten")
    return 0


def group_create(actor: Actor, args: argparse.Namespace) -> int:
    admin = users.find_user(args.group_admin) if args.group_admin else None  # before creating
    group = groups.create_group(
        actor, args.name, description=args.description, public=not args.private
    )
    if admin is not None:
        groups.set_member(actor, group, admin, Role.ADMIN)
    print(f"created group {group.name} ({'private' if args.private else 'public'})")
    return 0


def group_add(actor: Actor, args: argparse.Namespace) -> int:
    groups.set_member(actor, _group(actor, args.group), users.find_user(args.user), args.role)
    print(f"{args.user} is {args.role} of {args.group}")
    return 0


def group_remove(actor: Actor, args: argparse.Namespace) -> int:
    groups.remove_member(actor, _group(actor, args.group), users.find_user(args.user))
    print(f"{args.user} left {args.group}")
    return 0


def group_list(actor: Actor, args: argparse.Namespace) -> int:
    for group in groups.visible_groups(actor):
        members = ", ".join(
            f"{m.user.username}{' (admin)' if m.role == Role.ADMIN else ''}"
            for m in groups.members(actor, group)
        )
        print(f"{group.name}\t{'public' if group.public else 'private'}\t{members}")
    return 0


def apikey_create(actor: Actor, args: argparse.Namespace) -> int:
    user = users.find_user(args.user)
    scope = Scope.READ if args.read_only else Scope.READ_WRITE
    _, secret = apikeys.create_api_key(actor, user, args.name, scope=scope)
    print(secret)
    return 0


def ldap_sync(actor: Actor, args: argparse.Namespace) -> int:
    if settings.SINFONIA_LDAP is None:
        print("sinfonia: LDAP is not configured (SINFONIA_LDAP_URL)", file=sys.stderr)
        return 1
    import ldap

    from sinfonia.accounts import directory

    try:
        report = directory.sync(actor)
    except ldap.LDAPError as exc:
        print(f"sinfonia: the directory did not answer: {exc}", file=sys.stderr)
        return 1
    print(f"checked {report.checked} directory account(s)")
    for name, why in sorted(report.deactivated.items()):
        print(f"deactivated {name}: {why}")
    return 0


def collection_create(actor: Actor, args: argparse.Namespace) -> int:
    node = tree.create_collection(
        actor, args.name, description=args.description, public=args.public
    )
    print(f"created collection /{node.name} (id {node.id})")
    return 0


def collection_list(actor: Actor, args: argparse.Namespace) -> int:
    offset = 0
    while True:
        page = selectors.list_collections(actor, offset=offset, limit=500)
        for node in page.items:
            print(f"/{node.name}\t{node.id}")
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return 0


def trash_purge_expired(actor: Actor, args: argparse.Namespace) -> int:
    print(f"purged {trash.purge_expired(actor)} element(s)")
    return 0


def do_import(actor: Actor, args: argparse.Namespace) -> int:
    from sinfonia.cli.transfer import import_tree

    report = import_tree(
        actor, args.source, args.destination, sinfonia_id=args.sinfonia_id, progress=not args.quiet
    )
    print(report.summary())
    for path, reason in report.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def do_export(actor: Actor, args: argparse.Namespace) -> int:
    from sinfonia.cli.transfer import export_tree

    report = export_tree(actor, args.source, args.destination, progress=not args.quiet)
    print(report.summary())
    for path, reason in report.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def dicom_ae(actor: Actor, args: argparse.Namespace) -> int:
    from sinfonia.cli.dicom import AE_ACTIONS

    return AE_ACTIONS[args.ae_action](actor, args)


def do_search(actor: Actor, args: argparse.Namespace) -> int:
    from sinfonia.cli.search import do_search

    return do_search(actor, args)


HANDLERS = {
    ("user", "create"): user_create,
    ("user", "list"): user_list,
    ("user", "set-password"): user_set_password,
    ("user", "reset-2fa"): user_reset_2fa,
    ("user", "unlock"): user_unlock,
    ("group", "create"): group_create,
    ("group", "add"): group_add,
    ("group", "remove"): group_remove,
    ("group", "list"): group_list,
    ("apikey", "create"): apikey_create,
    ("ldap", "sync"): ldap_sync,
    ("collection", "create"): collection_create,
    ("collection", "list"): collection_list,
    ("trash", "purge-expired"): trash_purge_expired,
    ("import", None): do_import,
    ("export", None): do_export,
    ("search", None): do_search,
    ("dicom", "ae"): dicom_ae,
}

__all__ = ["HANDLERS", "NotFound", "User", "run"]
