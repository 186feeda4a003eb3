"""Office documents shown as PDF: converted once per content by LibreOffice, in the background.

Viewing a .docx (or .xlsx, .pptx, .odt, ...) asks `office_pdf`: a PDF already made for the same
bytes (same SHA-256) is ready at once; otherwise one background operation converts a temporary
copy with ``soffice --headless --convert-to pdf`` under a private, throw-away LibreOffice profile
and a time limit, never in a request thread. The result (or why it failed) is kept by
`sinfonia.storage.previews`. Reading the PDF needs read access to the source file, and is
audited like reading the file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid
from sinfonia.resources import access, selectors
from sinfonia.resources.errors import ResourceError
from sinfonia.resources.models import Kind, Level, Node
from sinfonia.storage import blobstore, previews
from sinfonia.transfers.errors import TransferError
from sinfonia.transfers.models import Operation, Status
from sinfonia.transfers.services import operations

KIND = "preview.office"
OFFICE_SUFFIXES = frozenset(
    {".docx", ".doc", ".xlsx", ".xls", ".pptx", ".ppt", ".odt", ".ods", ".odp", ".rtf"}
)


class State(StrEnum):
    READY = "ready"
    CONVERTING = "converting"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class OfficePdf:
    state: State
    message: str = ""


class ConversionError(RuntimeError):
    """LibreOffice did not produce a PDF; the message says why (shown to users)."""


def is_office(node: Node) -> bool:
    return node.kind == Kind.FILE and PurePath(node.name.lower()).suffix in OFFICE_SUFFIXES


def converter() -> str | None:
    """The LibreOffice executable, or None when it is not installed."""
    return shutil.which(settings.SINFONIA_SOFFICE)


def office_pdf(actor: Actor, node: Node) -> OfficePdf:
    """The state of `node`'s PDF rendering, starting its conversion when there is none.

    Precondition: the actor may read `node` (checked again: NotFound otherwise); `node` is an
    office document (Invalid ``not_convertible`` otherwise). Effect: at most one queued
    conversion per content. Anonymous visitors of public data see PDFs made already but
    start none (a background operation belongs to a user).
    """
    access.require(actor, Level.READ, node)
    if not is_office(node) or node.blob_id is None:
        raise Invalid(TransferError.NOT_CONVERTIBLE, f"{node.name!r} is not an office document.")
    sha256 = node.blob_id
    if previews.has_pdf(sha256):
        return OfficePdf(State.READY)
    if (why := previews.failure(sha256)) is not None:
        return OfficePdf(State.FAILED, why)
    if converter() is None:
        return OfficePdf(
            State.UNAVAILABLE, "LibreOffice is not installed on the server: no office previews."
        )
    active = Operation.objects.filter(
        kind=KIND, params__sha256=sha256, status__in=(Status.QUEUED, Status.RUNNING)
    )
    if not active.exists():
        if actor.user is None:
            return OfficePdf(State.UNAVAILABLE, "Sign in to have this document converted.")
        operations.enqueue(actor, KIND, {"file_id": node.id, "sha256": sha256}, unit="files")
    return OfficePdf(State.CONVERTING)


def pdf_to_send(actor: Actor, node: Node) -> Path | None:
    """The PDF of an office document to send (audited as ``file.preview``), or None while
    it is being converted. Raises Invalid ``conversion_failed`` or ``converter_missing``."""
    state = office_pdf(actor, node)
    if state.state == State.CONVERTING:
        return None
    if state.state == State.FAILED:
        raise Invalid(TransferError.CONVERSION_FAILED, state.message)
    if state.state == State.UNAVAILABLE:
        raise Invalid(TransferError.CONVERTER_MISSING, state.message)
    assert node.blob_id is not None
    record(actor, "file.preview", node, path=selectors.path_of(node), format="pdf")
    return previews.pdf_path(node.blob_id)


@operations.handler(KIND)
def convert(actor: Actor, params: dict[str, Any], progress: operations.Progress) -> dict[str, Any]:
    """Convert one office file (run by the worker, as the user who viewed it)."""
    node = selectors.get_node(actor, params["file_id"])  # still readable by them?
    if node.blob_id is None:
        raise Invalid(ResourceError.NOT_A_FILE, f"{node.name!r} is not a file.")
    sha256 = node.blob_id
    if previews.has_pdf(sha256):
        return {"sha256": sha256}
    executable = converter()
    if executable is None:
        raise Invalid(TransferError.CONVERTER_MISSING, "LibreOffice is not installed.")
    progress.update(0, 1, "converting")
    suffix = PurePath(node.name.lower()).suffix
    try:
        produced = to_pdf(executable, blobstore.blob_path(sha256), suffix)
    except ConversionError as exc:
        previews.record_failure(sha256, str(exc))
        raise Invalid(TransferError.CONVERSION_FAILED, str(exc)) from exc
    try:
        previews.store_pdf(sha256, produced)
    finally:
        produced.unlink(missing_ok=True)
    progress.update(1, 1, "converted")
    return {"sha256": sha256}


def to_pdf(executable: str, source: Path, suffix: str) -> Path:
    """Convert a copy of `source` (named with `suffix`, which LibreOffice's filter detection
    uses) to PDF; return the PDF, a temporary file the caller removes.

    LibreOffice runs with its own profile in a temporary folder (parallel runs would otherwise
    fight over ``~/.config/libreoffice``), in a session of its own so that on timeout the whole
    process group (oosplash and soffice.bin) is killed.
    """
    timeout = settings.SINFONIA_OFFICE_TIMEOUT
    with tempfile.TemporaryDirectory(dir=blobstore.tmp_dir(), prefix="office-") as work:
        folder = Path(work)
        copy = folder / f"document{suffix}"
        shutil.copyfile(source, copy)
        out = folder / "out"
        command = [
            executable,
            "--headless",
            "--norestore",
            "--nolockcheck",
            f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(copy),
        ]
        env = {**os.environ, "HOME": str(folder)}
        with subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as proc:
            try:
                output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise ConversionError(
                    f"LibreOffice took longer than {timeout} s to convert this document."
                ) from None
        pdf = out / "document.pdf"
        if proc.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
            tail = output.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise ConversionError(
                "LibreOffice could not convert this document"
                + (f": {' '.join(tail)}" if tail else ".")
            )
        fd, kept = tempfile.mkstemp(dir=blobstore.tmp_dir(), prefix="office-", suffix=".pdf")
        os.close(fd)
        shutil.move(pdf, kept)
        return Path(kept)
