"""The `sinfonia` command: a thin front-end over the service layer.

Administrative commands run as the local system operator unless ``--as USER`` is given, in
which case that user's permissions apply exactly as in the web portal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data",
        metavar="DIR",
        help="data folder (database, blobs); default $SINFONIA_DATA or ./sinfonia-data",
    )
    as_user = argparse.ArgumentParser(add_help=False)
    as_user.add_argument("--as", dest="as_user", metavar="USER", help="act as this user")

    p = argparse.ArgumentParser(prog="sinfonia", description="Sinfonia data repository")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", parents=[common], help="run the whole system in the foreground")
    s.add_argument("--host", default=os.environ.get("SINFONIA_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("SINFONIA_PORT", "8080")))
    s.add_argument(
        "--sftp-port",
        type=int,
        default=None,
        help="SFTP port (default $SINFONIA_SFTP_PORT or 2222; 0 turns SFTP off)",
    )
    s.add_argument(
        "--dicom-port",
        type=int,
        default=None,
        help="DICOM (DIMSE) port (default $SINFONIA_DICOM_PORT or 11112; 0 turns DIMSE off)",
    )
    s.add_argument(
        "--ae-title",
        default=None,
        help="Sinfonia's DICOM AE title (default $SINFONIA_DICOM_AE_TITLE or SINFONIA)",
    )

    u = sub.add_parser("user", help="manage accounts").add_subparsers(dest="action", required=True)
    uc = u.add_parser("create", parents=[common], help="create an account")
    uc.add_argument("name")
    uc.add_argument("--admin", action="store_true", help="make a site administrator")
    uc.add_argument("--password", help="generated and printed when omitted")
    uc.add_argument("--email", default="")
    u.add_parser("list", parents=[common], help="list accounts")
    up = u.add_parser("set-password", parents=[common], help="set a password")
    up.add_argument("name")
    up.add_argument("--password", help="generated and printed when omitted")
    ur = u.add_parser(
        "reset-2fa", parents=[common], help="switch off a user's two-factor log-in (lost phone)"
    )
    ur.add_argument("name")
    ul = u.add_parser("unlock", parents=[common], help="forget an account's failed log-ins")
    ul.add_argument("name")

    g = sub.add_parser("group", help="manage groups").add_subparsers(dest="action", required=True)
    gc = g.add_parser("create", parents=[common], help="create a group")
    gc.add_argument("name")
    gc.add_argument("--private", action="store_true", help="visible to members only")
    gc.add_argument("--description", default="")
    gc.add_argument("--admin", dest="group_admin", metavar="USER", help="first administrator")
    ga = g.add_parser("add", parents=[common], help="add a member or change a role")
    ga.add_argument("group")
    ga.add_argument("user")
    ga.add_argument("--role", choices=["member", "admin"], default="member")
    gr = g.add_parser("remove", parents=[common], help="remove a member")
    gr.add_argument("group")
    gr.add_argument("user")
    g.add_parser("list", parents=[common], help="list groups and members")

    ld = sub.add_parser("ldap", help="the LDAP directory").add_subparsers(
        dest="action", required=True
    )
    ld.add_parser(
        "sync",
        parents=[common],
        help="deactivate directory accounts that are locked or gone from the directory",
    )
    ck = sub.add_parser(
        "check",
        parents=[common],
        help="report unsafe settings (debug, secret key, HTTPS, database, 2FA, ...)",
    )
    ck.add_argument(
        "--fail-on-warning", action="store_true", help="exit 1 on warnings too, not only errors"
    )

    k = sub.add_parser("apikey", help="API keys").add_subparsers(dest="action", required=True)
    kc = k.add_parser("create", parents=[common], help="create a key for USER and print it")
    kc.add_argument("user")
    kc.add_argument("--name", default="")
    kc.add_argument(
        "--read-only",
        action="store_true",
        help="a read-only key: list, search and download only",
    )

    c = sub.add_parser("collection", help="collections").add_subparsers(
        dest="action", required=True
    )
    cc = c.add_parser("create", parents=[common], help="create a collection")
    cc.add_argument("name")
    cc.add_argument("--description", default="")
    cc.add_argument("--public", action="store_true", help="readable by every signed-in user")
    c.add_parser("list", parents=[common], help="list collections")

    i = sub.add_parser(
        "import",
        parents=[common, as_user],
        help="import a local directory tree (resumable: identical files are skipped)",
    )
    i.add_argument("source", metavar="LOCAL_DIR")
    i.add_argument("destination", metavar="/Collection/Path")
    i.add_argument("--sinfonia-id", default=None, help="project identifier for what is imported")
    i.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("export", parents=[common, as_user], help="export a tree to a directory")
    e.add_argument("source", metavar="/Collection/Path")
    e.add_argument("destination", metavar="LOCAL_DIR")
    e.add_argument("--quiet", action="store_true", help="no progress bar")

    from sinfonia.cli.search import add_parser as add_search_parser

    add_search_parser(sub, [common, as_user])

    t = sub.add_parser("trash", help="recycle bins").add_subparsers(dest="action", required=True)
    t.add_parser("purge-expired", parents=[common], help="purge elements past the retention period")

    d = sub.add_parser("dicom", help="DICOM network").add_subparsers(dest="action", required=True)
    ae = d.add_parser("ae", help="remote AEs: who may call in, C-MOVE destinations")
    aes = ae.add_subparsers(dest="ae_action", required=True)
    aa = aes.add_parser("add", parents=[common], help="map a calling AE title to a user")
    aa.add_argument("ae_title", metavar="AE_TITLE")
    aa.add_argument("--user", help="served as this user when it calls in (else: destination only)")
    aa.add_argument("--host", default="", help="address, for use as a C-MOVE destination")
    aa.add_argument("--port", type=int, default=None, help="port, with --host")
    aa.add_argument(
        "--destination",
        metavar="/Collection/Path",
        help="where its C-STORE lands (default: the user's folder /~USER/DICOM)",
    )
    aa.add_argument(
        "--no-organise",
        dest="organise",
        action="store_false",
        help="keep one fileset per series instead of Patient/Study/Series folders",
    )
    aa.add_argument("--description", default="")
    aes.add_parser("list", parents=[common], help="list remote AEs")
    ar = aes.add_parser("remove", parents=[common], help="forget a remote AE")
    ar.add_argument("ae_title", metavar="AE_TITLE")
    return p


def _setup(data: str | None) -> None:
    if data:
        os.environ["SINFONIA_DATA"] = data
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sinfonia.settings")
    import django
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    if not apps.ready:
        try:
            django.setup()
        except ImproperlyConfigured as exc:  # a setting is wrong: say which, no traceback
            raise SystemExit(f"sinfonia: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup(getattr(args, "data", None))

    from sinfonia.cli import commands
    from sinfonia.core.errors import ServiceError

    try:
        return commands.run(args)
    except ServiceError as exc:
        print(f"sinfonia: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sinfonia: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
