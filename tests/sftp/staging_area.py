"""Helpers of the in-process staging-area tests (no SFTP server running): a staging area of
the test's own, and a user's home folder in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from sinfonia.accounts.models import User


def own_staging_area(test_settings: Any, tmp_path: Path, quota_bytes: int) -> None:
    """Point the staging area (with its quota) at ``tmp_path`` for this test."""
    test_settings.SINFONIA_SFTP_DIR = tmp_path / "sftp"
    test_settings.SINFONIA_SFTP_QUOTA_BYTES = quota_bytes


def home(user: User) -> Path:
    """The user's home folder in the staging area, made when missing."""
    root = Path(settings.SINFONIA_SFTP_DIR) / "home" / user.username
    root.mkdir(parents=True, exist_ok=True)
    return root
