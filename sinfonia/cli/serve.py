"""`sinfonia serve`: migrations, first administrator, then the HTTP server in the foreground."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import threading
from types import FrameType

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections
from django.urls import get_resolver

from sinfonia.accounts.models import User
from sinfonia.accounts.services.users import generate_password
from sinfonia.core.context import Actor
from sinfonia.core.errors import ServiceError
from sinfonia.dicom import readers
from sinfonia.dicom.dimse.server import DEFAULT_AE_TITLE, DEFAULT_PORT, DimseServer
from sinfonia.resources.services import trash
from sinfonia.resources.services.tree import ensure_home
from sinfonia.sftp.server import SftpServer
from sinfonia.storage import blobstore, reserve
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


def _directory_sync(stop: threading.Event, seconds: int) -> None:
    """Every ``seconds``: deactivate directory accounts locked or gone (``ldap sync``)."""
    from sinfonia.accounts import directory

    while not stop.wait(seconds):
        try:
            report = directory.sync(directory.actor())
            for name, why in report.deactivated.items():
                log.warning("deactivated %s: %s", name, why)
        except Exception:  # the directory may be down: the next round tries again
            log.exception("LDAP synchronisation failed")
        finally:
            close_old_connections()


def _handled(signum: int, frame: FrameType | None) -> None:
    """The graceful shutdown this signal asked for is over by the time it arrives here."""


def _start_sftp(host: str, option: int | None) -> SftpServer | None:
    """The SFTP server on ``--sftp-port`` / $SINFONIA_SFTP_PORT / 2222 (0: none). A port
    asked for explicitly must open; the default one only warns when taken."""
    port, explicit = _port(option, "SINFONIA_SFTP_PORT", 2222)
    if port == 0:
        return None
    sftp = SftpServer(host, port)
    try:
        sftp.start()
    except OSError as exc:
        if explicit:
            raise
        print(f"Sinfonia: SFTP NOT started, port {port} unavailable ({exc})", flush=True)
        return None
    print(f"Sinfonia: SFTP on sftp://{host}:{sftp.port}/ (host key {sftp.fingerprint})", flush=True)
    return sftp


def _port(option: int | None, variable: str, default: int) -> tuple[int, bool]:
    """The port from the command-line option, else the environment variable, else the
    default; and whether it was asked for explicitly (then it must open)."""
    if option is not None:
        return option, True
    if variable in os.environ:
        return int(os.environ[variable]), True
    return default, False


def _start_dimse(host: str, option: int | None, ae_title: str | None) -> DimseServer | None:
    """The DICOM SCP on ``--dicom-port`` / $SINFONIA_DICOM_PORT / 11112 (0: none), as
    ``--ae-title`` / $SINFONIA_DICOM_AE_TITLE / SINFONIA. A port asked for explicitly must
    open; the default one only warns when taken."""
    port, explicit = _port(option, "SINFONIA_DICOM_PORT", DEFAULT_PORT)
    if port == 0:
        return None
    title = ae_title or os.environ.get("SINFONIA_DICOM_AE_TITLE") or DEFAULT_AE_TITLE
    dimse = DimseServer(host, port, title)
    try:
        dimse.start()
    except OSError as exc:
        if explicit:
            raise
        print(f"Sinfonia: DICOM (DIMSE) NOT started, port {port} unavailable ({exc})", flush=True)
        return None
    print(f"Sinfonia: DICOM (DIMSE) AE {dimse.ae_title} on {host}:{dimse.port}", flush=True)
    return dimse


def _limit_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own arena and keeps freed memory there; with
    many upload threads that shows up as resident memory never returned. Two arenas keep the
    server's memory flat under concurrent transfers (M_ARENA_MAX, mallopt(3))."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX = -8


def _freeze_startup_objects() -> None:
    """What serving needs loaded (Django, every view module through the URL configuration,
    pydicom's dictionaries: some 170,000 objects) lives as long as the process. Moving it out
    of the cyclic garbage collector's sight (gc.freeze) keeps the collector's full passes,
    which otherwise walk all of it every few hundred requests' worth of allocations, cheap:
    STOW-RS spent 0.29 ms per instance collecting garbage, 0.07 ms after this."""
    import sinfonia.asgi  # noqa: F401  (the application uvicorn is about to load)

    get_resolver().url_patterns  # noqa: B018  (imports every view module)
    gc.collect()
    gc.freeze()


def _start_blob_reserve() -> None:
    """Have a helper process make blob writes' files and folders ahead (`storage.reserve`)."""
    folder = blobstore.tmp_dir()
    if swept := reserve.sweep(folder):
        log.info("removed %d reserve(s) left by stopped servers", swept)
    if settings.SINFONIA_BLOB_RESERVE:
        try:
            reserve.start(folder)
        except OSError as exc:  # blob writes make their own files, as without it
            log.warning("cannot start the blob reserve: %s", exc)


def _start_header_readers() -> None:
    """Have helper processes read STOW-RS headers (`dicom.readers`)."""
    if settings.SINFONIA_HEADER_READERS > 0:
        try:
            readers.start(settings.SINFONIA_HEADER_READERS)
        except OSError as exc:  # headers are read in the request's thread, as without them
            log.warning("cannot start the header readers: %s", exc)


def serve(
    host: str,
    port: int,
    *,
    sftp_port: int | None = None,
    dicom_port: int | None = None,
    ae_title: str | None = None,
) -> int:
    print(f"Sinfonia: data folder {settings.DATA_DIR}", flush=True)
    _limit_malloc_arenas()
    call_command("migrate", interactive=False, verbosity=0)
    ensure_admin()
    stop = threading.Event()
    threading.Thread(target=_housekeeping, args=(stop,), daemon=True, name="housekeeping").start()
    if settings.SINFONIA_LDAP is not None and settings.SINFONIA_LDAP["sync_seconds"] > 0:
        threading.Thread(
            target=_directory_sync,
            args=(stop, settings.SINFONIA_LDAP["sync_seconds"]),
            daemon=True,
            name="ldap-sync",
        ).start()
    if interrupted := operations.recover_interrupted():
        log.warning("%d operation(s) were interrupted by the last stop", interrupted)
    threading.Thread(
        target=operations.worker_loop, args=(stop,), daemon=True, name="operations"
    ).start()
    threading.Thread(
        target=operations.poller_loop, args=(stop,), daemon=True, name="indexer"
    ).start()
    try:
        sftp = _start_sftp(host, sftp_port)
    except OSError as exc:
        stop.set()
        print(f"Sinfonia: cannot listen for SFTP ({exc}); see --sftp-port", flush=True)
        return 1
    try:
        dimse = _start_dimse(host, dicom_port, ae_title)
    except (OSError, ServiceError) as exc:
        stop.set()
        if sftp is not None:
            sftp.stop()
        print(f"Sinfonia: cannot serve DICOM ({exc}); see --dicom-port, --ae-title", flush=True)
        return 1
    config = uvicorn.Config(
        "sinfonia.asgi:application",
        host=host,
        port=port,
        lifespan="off",
        log_level=os.environ.get("SINFONIA_LOG_LEVEL", "info").lower(),
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    _freeze_startup_objects()
    _start_blob_reserve()
    _start_header_readers()
    print(f"Sinfonia: listening on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    # uvicorn handles SIGINT/SIGTERM (stops accepting, finishes requests) and then raises the
    # signal again for the handler it found; make that one a no-op so that we report the stop
    # and exit 0 instead of dying of the signal.
    previous = {sig: signal.signal(sig, _handled) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        stop.set()
        if sftp is not None:
            sftp.stop()
        if dimse is not None:
            dimse.stop()
        readers.stop()
        reserve.stop()  # after the servers that write blobs
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Sinfonia: stopped", flush=True)
    return 0
