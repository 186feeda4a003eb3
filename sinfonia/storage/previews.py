"""Derived artefacts of blobs: an office document's PDF rendering, and why one failed.

Layout: ``previews/ab/cd/<sha256>.pdf`` under the data folder, keyed by the SHA-256 of the
*source* blob, so the same content is converted once whoever uploaded it and wherever it lies.
A failed conversion leaves ``<sha256>.error`` (its message) instead, so it is not retried on
every view. This is a cache: deleting the folder loses nothing but conversion time; garbage
collection of a blob removes its artefacts (`discard`). Not in the blob store, because these
files are not content that users own, reference-count or download as themselves.
See docs/architecture.md ("Previews").
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings


def preview_dir() -> Path:
    return Path(settings.SINFONIA_PREVIEW_DIR)


def _base(sha256: str) -> Path:
    return preview_dir() / sha256[:2] / sha256[2:4] / sha256


def pdf_path(sha256: str) -> Path:
    return _base(sha256).with_suffix(".pdf")


def has_pdf(sha256: str) -> bool:
    return pdf_path(sha256).is_file()


def store_pdf(sha256: str, produced: Path) -> Path:
    """Copy a finished PDF into place atomically (a reader never sees half of one)."""
    final = pdf_path(sha256)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=final.parent, prefix=f".{sha256}-", suffix=".partial")
    os.close(fd)
    try:
        shutil.copyfile(produced, partial)
        os.replace(partial, final)  # two conversions of one content: the last one stays
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    _base(sha256).with_suffix(".error").unlink(missing_ok=True)
    return final


def record_failure(sha256: str, message: str) -> None:
    path = _base(sha256).with_suffix(".error")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(message, encoding="utf-8")


def failure(sha256: str) -> str | None:
    """Why converting this content failed, or None when it did not (or was not tried)."""
    try:
        return _base(sha256).with_suffix(".error").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def discard(sha256: str) -> None:
    """Forget every artefact of a blob (it was garbage-collected)."""
    base = _base(sha256)
    for suffix in (".pdf", ".error"):
        base.with_suffix(suffix).unlink(missing_ok=True)
