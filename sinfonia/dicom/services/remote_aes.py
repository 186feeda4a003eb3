"""Remote DICOM application entities: which calling AE title acts as which user, where its
C-STORE lands, and where C-MOVE may send (docs/admin.md, "DICOM network (DIMSE)").

Managing the list is for site administrators. The DIMSE front-end resolves callers and move
destinations through `calling_ae` and `move_destination`, which are the protocol's own
authentication step and so take no actor.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from sinfonia.accounts.models import User
from sinfonia.accounts.services.users import require_site_admin
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, NotFound
from sinfonia.dicom.errors import DicomError
from sinfonia.dicom.models import RemoteAE
from sinfonia.resources import access
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.resources.selectors import path_of

# PS3.5 §6.2, VR AE: at most 16 characters of the default repertoire (printable ASCII here),
# no backslash, no control characters; leading and trailing spaces are not significant.
AE_CHARACTERS = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
# A host name or an IPv4/IPv6 address; resolution is left to the connection.
HOST = re.compile(r"^[A-Za-z0-9._:%\[\]-]{1,255}$")

CONTAINER_KINDS = (Kind.COLLECTION, Kind.FOLDER, Kind.FILESET)


class _Unset:
    """Marks a keyword argument of `update_remote_ae` that was not given."""


UNSET: Any = _Unset()


def clean_ae_title(raw: str) -> str:
    """The significant part of an AE title, or `Invalid` saying what is wrong with it."""
    if not isinstance(raw, str):
        raise Invalid(DicomError.INVALID_AE_TITLE, "An AE title must be text.")
    title = raw.strip(" ")
    if not title or not AE_CHARACTERS.match(title):
        raise Invalid(
            DicomError.INVALID_AE_TITLE,
            f"{raw!r} is not an AE title: 1 to 16 printable ASCII characters, no backslash "
            "(DICOM PS3.5 §6.2, VR AE).",
        )
    return title


def _clean_address(host: str, port: int | None) -> tuple[str, int | None]:
    host = (host or "").strip()
    if port is None and not host:
        return "", None
    if port is None or not host:
        raise Invalid(
            DicomError.INVALID_ADDRESS,
            "Give both host and port (a C-MOVE destination), or neither.",
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise Invalid(DicomError.INVALID_ADDRESS, f"The port must be 1-65535, not {port!r}.")
    if not HOST.match(host):
        raise Invalid(DicomError.INVALID_ADDRESS, f"{host!r} is not a host name or address.")
    return host, port


def _check_destination(user: User | None, destination: Node | None) -> None:
    if destination is None:
        return
    if user is None:
        raise Invalid(
            DicomError.INVALID_DESTINATION,
            "A storage destination needs a user: instances are stored as that user.",
        )
    if destination.kind not in CONTAINER_KINDS or destination.in_trash:
        raise Invalid(
            DicomError.INVALID_DESTINATION,
            f"{destination.name!r} is not a collection, folder or fileset in use.",
        )
    if not access.can(Actor(user=user, channel="dimse"), Level.WRITE, destination):
        raise Invalid(
            DicomError.INVALID_DESTINATION,
            f"{user.username} may not write to {path_of(destination)}.",
        )


def _describe(remote: RemoteAE) -> dict[str, Any]:
    return {
        "ae_title": remote.ae_title,
        "user": remote.user.username if remote.user else None,
        "host": remote.host,
        "port": remote.port,
        "destination": path_of(remote.destination) if remote.destination else None,
        "organise": remote.organise,
    }


def list_remote_aes(actor: Actor) -> QuerySet[RemoteAE]:
    require_site_admin(actor, "see the DICOM network configuration")
    return RemoteAE.objects.select_related("user", "destination").order_by("ae_title")


def get_remote_ae(actor: Actor, remote_id: int) -> RemoteAE:
    found = list_remote_aes(actor).filter(pk=remote_id).first()
    if found is None:
        raise NotFound(DicomError.UNKNOWN_AE, f"No remote AE with id {remote_id}.")
    return found


def find_remote_ae(actor: Actor, ae_title: str) -> RemoteAE:
    found = list_remote_aes(actor).filter(ae_title=clean_ae_title(ae_title)).first()
    if found is None:
        raise NotFound(DicomError.UNKNOWN_AE, f"No remote AE titled {ae_title.strip()!r}.")
    return found


def _save(remote: RemoteAE) -> None:
    try:
        with transaction.atomic():
            remote.save()
    except IntegrityError as exc:
        raise Conflict(
            DicomError.AE_TITLE_TAKEN, f"The AE title {remote.ae_title!r} is configured already."
        ) from exc


@transaction.atomic
def add_remote_ae(
    actor: Actor,
    ae_title: str,
    *,
    user: User | None = None,
    host: str = "",
    port: int | None = None,
    destination: Node | None = None,
    organise: bool = True,
    description: str = "",
) -> RemoteAE:
    """Configure a remote AE. Site administrators only.

    Errors: Invalid (AE title, address, or a destination that is no container or that
    ``user`` may not write to), Conflict (AE title taken), PermissionDenied.
    """
    actor.require_write()
    require_site_admin(actor, "configure DICOM network peers")
    title = clean_ae_title(ae_title)
    host, port = _clean_address(host, port)
    _check_destination(user, destination)
    if RemoteAE.objects.filter(ae_title=title).exists():
        raise Conflict(DicomError.AE_TITLE_TAKEN, f"The AE title {title!r} is configured already.")
    remote = RemoteAE(
        ae_title=title,
        user=user,
        host=host,
        port=port,
        destination=destination,
        organise=organise,
        description=description.replace("\x00", ""),
    )
    _save(remote)
    record(actor, "dicom.ae.add", None, **_describe(remote))
    return remote


@transaction.atomic
def update_remote_ae(
    actor: Actor,
    remote: RemoteAE,
    *,
    ae_title: str = UNSET,
    user: User | None = UNSET,
    host: str = UNSET,
    port: int | None = UNSET,
    destination: Node | None = UNSET,
    organise: bool = UNSET,
    description: str = UNSET,
) -> RemoteAE:
    """Change what is given of a remote AE's settings (same rules as `add_remote_ae`)."""
    actor.require_write()
    require_site_admin(actor, "configure DICOM network peers")
    if ae_title is not UNSET:
        remote.ae_title = clean_ae_title(ae_title)
    if user is not UNSET:
        remote.user = user
    if host is not UNSET or port is not UNSET:
        remote.host, remote.port = _clean_address(
            remote.host if host is UNSET else host, remote.port if port is UNSET else port
        )
    if destination is not UNSET:
        remote.destination = destination
    if organise is not UNSET:
        remote.organise = bool(organise)
    if description is not UNSET:
        remote.description = description.replace("\x00", "")
    _check_destination(remote.user, remote.destination)
    if RemoteAE.objects.filter(ae_title=remote.ae_title).exclude(pk=remote.pk).exists():
        raise Conflict(
            DicomError.AE_TITLE_TAKEN, f"The AE title {remote.ae_title!r} is configured already."
        )
    _save(remote)
    record(actor, "dicom.ae.update", None, **_describe(remote))
    return remote


@transaction.atomic
def delete_remote_ae(actor: Actor, remote: RemoteAE) -> None:
    """Forget a remote AE: it can no longer call in nor receive C-MOVE sub-operations."""
    actor.require_write()
    require_site_admin(actor, "configure DICOM network peers")
    record(actor, "dicom.ae.delete", None, **_describe(remote))
    remote.delete()


def calling_ae(ae_title: str) -> RemoteAE | None:
    """The configuration serving an association from ``ae_title``, or None when that AE may
    not call in: unknown, without a user, or mapped to a deactivated account."""
    return (
        RemoteAE.objects.select_related("user", "destination")
        .filter(ae_title=ae_title.strip(" "), user__isnull=False, user__is_active=True)
        .first()
    )


def move_destination(ae_title: str) -> RemoteAE | None:
    """The configured AE that C-MOVE may send to under ``ae_title`` (needs host and port)."""
    return (
        RemoteAE.objects.filter(ae_title=(ae_title or "").strip(" "), port__isnull=False)
        .exclude(host="")
        .first()
    )


@transaction.atomic
def record_move(actor: Actor, destination: RemoteAE, instances: int) -> None:
    """Audit a C-MOVE: ``instances`` of what ``actor`` may read leave for ``destination`` (each
    instance read is audited as well)."""
    record(
        actor,
        "dicom.move",
        None,
        destination=destination.ae_title,
        host=destination.host,
        port=destination.port,
        instances=instances,
    )
