"""The association layer: who is calling, and as whom their requests are served.

An A-ASSOCIATE request whose Calling AE Title is not configured (or is configured without an
active user) is rejected: A-ASSOCIATE-RJ, result 1 "rejected-permanent", source 1 "DICOM UL
service-user", reason 3 "calling-AE-title-not-recognized" (PS3.8 §9.3.4). Otherwise the
association is bound to a `Session`: the mapped user as an `Actor` of channel "dimse" with
client ``"<calling AE>@<address>"``, and the `RemoteAE` row that says where C-STORE lands.

Each association runs in its own thread (pynetdicom). Database work is bracketed like a Django
request (`db_work`), and the thread's connections are closed when its association ends.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from django.db import close_old_connections, connections

from sinfonia.core.context import Actor
from sinfonia.dicom.models import RemoteAE
from sinfonia.dicom.services import remote_aes

if TYPE_CHECKING:
    from pynetdicom.association import Association
    from pynetdicom.events import Event

log = logging.getLogger("sinfonia.dimse")

# A-ASSOCIATE-RJ (PS3.8 §9.3.4): rejected-permanent, by the service-user, calling AE unknown.
REJECT_CALLING_AE = (0x01, 0x01, 0x03)


@dataclass(frozen=True, slots=True)
class Session:
    actor: Actor
    remote: RemoteAE
    calling_ae_title: str


_sessions: WeakKeyDictionary[Association, Session] = WeakKeyDictionary()
_lock = threading.Lock()


@contextmanager
def db_work() -> Iterator[None]:
    """Bracket one DIMSE operation as Django brackets a request: connections that are broken
    or past CONN_MAX_AGE are dropped before and after."""
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


def no_delay(assoc: Association) -> None:
    """Send each PDU at once (TCP_NODELAY). A DIMSE message goes out in several writes; with
    Nagle's algorithm the last one waits for the peer's delayed ACK, some 40 ms a message. (The
    same holds for the peer's side: DCMTK tools send without delay only with TCP_NODELAY=1 in
    their environment.)"""
    sock = getattr(assoc.dul.socket, "socket", None)
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def on_requested(event: Event) -> None:
    """EVT_REQUESTED: accept a known calling AE as its user, reject any other."""
    assoc = event.assoc
    no_delay(assoc)
    # The request is known here, but not yet copied into ``assoc.requestor``.
    calling = str(getattr(assoc.requestor.primitive, "calling_ae_title", "") or "").strip()
    address = str(assoc.requestor.address or "")
    try:
        with db_work():
            remote = remote_aes.calling_ae(calling)
            user = remote.user if remote is not None else None
    except Exception:
        log.exception("looking up calling AE %r failed", calling)
        remote, user = None, None
    if remote is None or user is None:
        log.warning("rejected association from %r at %s: AE title not configured", calling, address)
        assoc.acse.send_reject(*REJECT_CALLING_AE)
        assoc.kill()  # waits until the A-ASSOCIATE-RJ is on the wire, as pynetdicom does
        connections.close_all()
        return
    actor = Actor(user=user, channel="dimse", client=f"{calling}@{address}")
    with _lock:
        _sessions[assoc] = Session(actor=actor, remote=remote, calling_ae_title=calling)
    log.info("association from %s as %s", actor.client, user.username)


def on_ended(event: Event) -> None:
    """EVT_RELEASED / EVT_ABORTED (in the association's own thread): forget the session and
    close the thread's database connections."""
    with _lock:
        _sessions.pop(event.assoc, None)
    connections.close_all()


def session_of(event: Event) -> Session:
    """The session of the association an event belongs to (bound in `on_requested`)."""
    with _lock:
        session = _sessions.get(event.assoc)
    if session is None:  # cannot happen: unbound associations are rejected before any DIMSE
        raise RuntimeError("DIMSE request on an association without a session")
    return session
