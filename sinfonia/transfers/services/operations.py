"""Background operations with progress: enqueue, run, report.

A small database-backed queue: services enqueue an `Operation` naming a registered handler; the
worker thread started by ``sinfonia serve`` claims queued rows one at a time and runs them as
the user who asked; registered pollers (the DICOM indexer) run on a thread of their own. Tests
and scripts call `run_pending` and `run_pollers` to run them in the foreground.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, transaction
from django.utils import timezone

from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, NotFound, ServiceError
from sinfonia.transfers.errors import TransferError
from sinfonia.transfers.models import Operation, Status

log = logging.getLogger("sinfonia.operations")


class Progress:
    """Handed to a handler: ``progress.update(done, total, message)``, throttled writes."""

    def __init__(self, op: Operation) -> None:
        self.op = op
        self._last = 0.0

    def update(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.op.done = done
        if total is not None:
            self.op.total = total
        if message is not None:
            self.op.message = message
        now = time.monotonic()
        if now - self._last >= 0.5 or (total is not None and done >= total):
            self._last = now
            Operation.objects.filter(pk=self.op.pk).update(
                done=self.op.done, total=self.op.total, message=self.op.message
            )


Handler = Callable[[Actor, dict[str, Any], Progress], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
Poller = Callable[[], int]
POLLERS: list[Poller] = []
# One event per loop of `sinfonia serve`: the operations worker, and the pollers' own thread.
_wake = threading.Event()
_wake_pollers = threading.Event()


def poller(fn: Poller) -> Poller:
    """Register a function the worker calls each round to drain a queue of its own (the
    DICOM indexer); it returns how much it did, and is called again while that is > 0."""
    POLLERS.append(fn)
    return fn


def wake() -> None:
    """Wake the workers now (new queued work), instead of at their next poll."""
    _wake.set()
    _wake_pollers.set()


def run_pollers() -> int:
    done = 0
    for fn in POLLERS:
        while (n := fn()) > 0:
            done += n
    return done


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def enqueue(actor: Actor, kind: str, params: dict[str, Any], *, unit: str = "bytes") -> Operation:
    """Queue ``kind`` to run as ``actor``; the worker is woken once the caller commits."""
    actor.require_write()
    assert kind in HANDLERS, kind
    assert actor.user is not None
    op = Operation.objects.create(
        user=actor.user,
        kind=kind,
        params=params,
        unit=unit,
        channel=actor.channel,
        client=actor.client[:255],
    )
    transaction.on_commit(_wake.set)
    return op


def check_token(token: uuid.UUID | None) -> None:
    """A client-chosen operation id (a page that starts a download, then polls its progress
    under an id it knows) must be new. Raises Conflict ``bad_progress_token`` when taken."""
    if token is not None and Operation.objects.filter(pk=token).exists():
        raise Conflict(TransferError.BAD_PROGRESS_TOKEN, "This progress token was used already.")


def track(
    actor: Actor, kind: str, total: int, *, unit: str = "bytes", token: uuid.UUID | None = None
) -> Progress:
    """An operation that runs in the caller (a streamed download), shown like queued ones.

    ``token``: the operation's id, chosen by the client (see `check_token`); a new one when
    None. The caller reports with ``progress.update`` and ends with `finish`.
    """
    assert actor.user is not None
    check_token(token)
    op = Operation.objects.create(
        id=token or uuid.uuid4(),
        user=actor.user,
        kind=kind,
        status=Status.RUNNING,
        total=total,
        unit=unit,
        channel=actor.channel,
        client=actor.client[:255],
        started_at=timezone.now(),
    )
    return Progress(op)


def finish(progress: Progress, *, error: str = "") -> None:
    op = progress.op
    Operation.objects.filter(pk=op.pk).update(
        status=Status.FAILED if error else Status.DONE,
        error=error,
        done=op.done,
        finished_at=timezone.now(),
    )


def get_operation(actor: Actor, op_id: str) -> Operation:
    qs = Operation.objects.filter(pk=op_id) if _is_uuid(op_id) else Operation.objects.none()
    if not actor.is_site_admin:
        qs = qs.filter(user=actor.user)
    op = qs.first()
    if op is None:
        raise NotFound(TransferError.UPLOAD_NOT_FOUND, "No such operation.")
    return op


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def list_operations(actor: Actor, limit: int = 50) -> list[Operation]:
    if actor.user is None:
        return []
    return list(Operation.objects.filter(user=actor.user)[:limit])


def _claim() -> Operation | None:
    with transaction.atomic():
        op = (
            Operation.objects.select_for_update(skip_locked=True)
            .filter(status=Status.QUEUED)
            .order_by("created_at")
            .first()
        )
        if op is None:
            return None
        op.status = Status.RUNNING
        op.started_at = timezone.now()
        op.save(update_fields=["status", "started_at"])
        return op


def run_one(op: Operation) -> Operation:
    actor = Actor(user=op.user, channel=op.channel, client=op.client)
    progress = Progress(op)
    try:
        op.result = HANDLERS[op.kind](actor, op.params, progress)
        op.status = Status.DONE
    except ServiceError as exc:
        op.status, op.error = Status.FAILED, exc.message
    except Exception as exc:  # a bug must not kill the worker; it is logged and shown
        log.exception("operation %s (%s) failed", op.pk, op.kind)
        op.status, op.error = Status.FAILED, f"internal error: {exc}"
    op.finished_at = timezone.now()
    op.save()
    return op


def run_pending(limit: int | None = None) -> int:
    """Run queued operations in this thread until none is left (or ``limit`` ran)."""
    count = 0
    while limit is None or count < limit:
        op = _claim()
        if op is None:
            break
        run_one(op)
        count += 1
    return count


def recover_interrupted() -> int:
    """Operations left running by a process that died are failed, not silently lost."""
    return Operation.objects.filter(status=Status.RUNNING).update(
        status=Status.FAILED,
        error="interrupted by a server restart; start it again",
        finished_at=timezone.now(),
    )


def worker_loop(stop: threading.Event, poll_seconds: float = 2.0) -> None:
    """The operations worker: runs queued operations one at a time, as they come."""
    _loop(stop, poll_seconds, run_pending, _wake, "operation worker")


def poller_loop(stop: threading.Event, poll_seconds: float = 2.0) -> None:
    """The pollers' worker (the DICOM indexer), on a thread of its own, so that a long
    operation (a large extraction, an office conversion) never holds up indexing."""
    _loop(stop, poll_seconds, run_pollers, _wake_pollers, "indexer")


def _loop(
    stop: threading.Event,
    poll_seconds: float,
    work: Callable[[], int],
    woken: threading.Event,
    name: str,
) -> None:
    while not stop.is_set():
        try:
            work()
        except Exception:  # database hiccup: try again on the next round
            log.exception("%s round failed", name)
        finally:
            close_old_connections()
        woken.wait(poll_seconds)
        woken.clear()
