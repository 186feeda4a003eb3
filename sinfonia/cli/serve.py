"""`sinfonia serve`: migrations, first administrator, then the HTTP server in the foreground."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import uvicorn
from django.conf import settings
from django.core.management import call_command

from sinfonia.accounts.models import User
from sinfonia.accounts.services.users import generate_password
from sinfonia.core.context import Actor
from sinfonia.resources.services import trash
from sinfonia.resources.services.tree import ensure_home
from sinfonia.transfers.services import operations, uploads

log = logging.getLogger("sinfonia.serve")
HOUSEKEEPING_SECONDS = 6 * 3600


def ensure_admin() -> None:
    """Create the ``admin`` account on first start; print a generated password once."""
    if User.objects.filter(username="admin").exists():
        return
    password = os.environ.get("SINFONIA_ADMIN_PASSWORD")
    generated = password is None
    if password is None:
        password = generate_password()
    admin = User(username="admin", is_superuser=True, is_staff=True)
    admin.set_password(password)
    admin.save()
    ensure_home(admin)
    if generated:
        print(
            "\n  Created the administrator account 'admin' with password:\n\n"
            f"      {password}\n\n  It is shown only this once; change it after signing in.\n",
            flush=True,
        )
    else:
        print(
            "Created the administrator account 'admin' (password from SINFONIA_ADMIN_PASSWORD).",
            flush=True,
        )


def _housekeeping(stop: threading.Event) -> None:
    while not stop.wait(HOUSEKEEPING_SECONDS):
        try:
            purged = trash.purge_expired(Actor.local_system())
            if purged:
                log.info("purged %d expired element(s) from recycle bins", purged)
            expired = uploads.expire_uploads()
            if expired:
                log.info("dropped %d expired upload(s)", expired)
        except Exception:  # keep the server running; the next round tries again
            log.exception("housekeeping failed")


def _handled(signum: int, frame: FrameType | None) -> None:
    """The graceful shutdown this signal asked for is over by the time it arrives here."""


def serve(host: str, port: int) -> int:
    print(f"Sinfonia: data folder {settings.DATA_DIR}", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    ensure_admin()
    stop = threading.Event()
    threading.Thread(target=_housekeeping, args=(stop,), daemon=True, name="housekeeping").start()
    if interrupted := operations.recover_interrupted():
        log.warning("%d operation(s) were interrupted by the last stop", interrupted)
    threading.Thread(
        target=operations.worker_loop, args=(stop,), daemon=True, name="operations"
    ).start()
    config = uvicorn.Config(
        "sinfonia.asgi:application",
        host=host,
        port=port,
        lifespan="off",
        log_level=os.environ.get("SINFONIA_LOG_LEVEL", "info").lower(),
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    print(f"Sinfonia: listening on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    # uvicorn handles SIGINT/SIGTERM (stops accepting, finishes requests) and then raises the
    # signal again for the handler it found; make that one a no-op so that we report the stop
    # and exit 0 instead of dying of the signal.
    previous = {sig: signal.signal(sig, _handled) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Sinfonia: stopped", flush=True)
    return 0
