"""Secrets the server must read back (TOTP seeds), sealed with a key derived from SECRET_KEY.

A password or an API key is kept as a hash; an authenticator's seed cannot be: the server
computes the same codes as the phone. So the seed is encrypted (AES-256-GCM, a fresh nonce per
value) with a key derived from ``SECRET_KEY``, which lives in the data folder or the
environment, not in the database: a copy of the database alone (a backup, a dump handed to
support) does not give the seeds away. ``SECRET_KEY_FALLBACKS`` are tried when reading, so
the key can be rotated; a seed sealed with a key that is gone cannot be read, and its owner
signs in with a recovery code (or an administrator switches two-factor log-in off).
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PREFIX = "gcm1:"
_NONCE = 12


class Unreadable(Exception):
    """Sealed with a key this server no longer has."""


def _key(secret_key: str, purpose: str) -> bytes:
    return hashlib.sha256(f"sinfonia.sealed\0{purpose}\0{secret_key}".encode()).digest()


def seal(plain: str, purpose: str) -> str:
    nonce = os.urandom(_NONCE)
    box = AESGCM(_key(settings.SECRET_KEY, purpose)).encrypt(nonce, plain.encode(), None)
    return PREFIX + base64.b64encode(nonce + box).decode("ascii")


def unseal(value: str, purpose: str) -> str:
    """The plain text of a sealed value; a value never sealed (written by an older version
    and not migrated) is returned as it is. Raises Unreadable when no key opens it."""
    if not value.startswith(PREFIX):
        return value
    raw = base64.b64decode(value[len(PREFIX) :])
    for secret_key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        try:
            plain = AESGCM(_key(secret_key, purpose)).decrypt(raw[:_NONCE], raw[_NONCE:], None)
        except InvalidTag:
            continue
        return plain.decode()
    raise Unreadable
