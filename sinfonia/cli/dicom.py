"""`sinfonia dicom ae add|list|remove`: the remote AEs of the DIMSE front-end."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sinfonia.accounts.services import users
from sinfonia.core.context import Actor
from sinfonia.dicom.models import RemoteAE
from sinfonia.dicom.services import remote_aes
from sinfonia.dicom.services.ingest import DEFAULT_FOLDER
from sinfonia.resources import selectors


def _line(remote: RemoteAE) -> str:
    address = f"{remote.host}:{remote.port}" if remote.is_move_destination else "-"
    user = remote.user.username if remote.user else "-"
    if remote.destination is not None:
        destination = selectors.path_of(remote.destination)
    else:
        destination = f"/~{user}/{DEFAULT_FOLDER}" if remote.user else "-"
    organise = "organise" if remote.organise else "as-sent"
    return f"{remote.ae_title}\t{user}\t{address}\t{destination}\t{organise}\t{remote.description}"


def ae_add(actor: Actor, args: argparse.Namespace) -> int:
    user = users.find_user(args.user) if args.user else None
    destination = selectors.lookup(actor, args.destination) if args.destination else None
    remote = remote_aes.add_remote_ae(
        actor,
        args.ae_title,
        user=user,
        host=args.host,
        port=args.port,
        destination=destination,
        organise=args.organise,
        description=args.description,
    )
    print(f"added {_line(remote)}")
    return 0


def ae_list(actor: Actor, args: argparse.Namespace) -> int:
    for remote in remote_aes.list_remote_aes(actor):
        print(_line(remote))
    return 0


def ae_remove(actor: Actor, args: argparse.Namespace) -> int:
    remote = remote_aes.find_remote_ae(actor, args.ae_title)
    remote_aes.delete_remote_ae(actor, remote)
    print(f"removed {remote.ae_title}")
    return 0


AE_ACTIONS: dict[str, Callable[[Actor, argparse.Namespace], int]] = {
    "add": ae_add,
    "list": ae_list,
    "remove": ae_remove,
}
