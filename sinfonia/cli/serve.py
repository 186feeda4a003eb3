"""`sinfonia serve`: migrations, first administrator, then the HTTP server in the foreground."""

from __future__ import annotations

import logging
import os
import threading

import uvicorn
from django.conf import settings
from django.core.management import call_command

from sinfonia.accounts.models import User
from sinfonia.accounts.services.users import generate_password
from sinfonia.core.context import Actor
from sinfonia.resources.services import trash
from sinfonia.resources.services.tree import ensure_home

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
        except Exception:  # keep the server running; the next round tries again
            log.exception("housekeeping failed")


def serve(host: str, port: int) -> int:
    print(f"Sinfonia: data folder {settings.DATA_DIR}", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    ensure_admin()
    stop = threading.Event()
    threading.Thread(target=_housekeeping, args=(stop,), daemon=True, name="housekeeping").start()
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
    try:
        server.run()  # handles SIGINT/SIGTERM: stops accepting, finishes requests, returns
    finally:
        stop.set()
    print("Sinfonia: stopped", flush=True)
    return 0
