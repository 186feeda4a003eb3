from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Argon2 takes ~0.2 s a password; these tests are about the commands, not the hasher.

    (`sinfonia serve`, run as a process in test_serve.py, keeps the real hashers.)
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
