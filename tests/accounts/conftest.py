"""Fixtures of the LDAP tests: one real slapd for the session, Sinfonia pointed at it."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from sinfonia.settings import ldap_settings
from tests.accounts.ldap_server import Directory, start_directory

PASSWORD = "Directory-pass-42"


@pytest.fixture(scope="session")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    if shutil.which("slapd") is None and shutil.which("slapd", path="/usr/sbin") is None:
        pytest.fail("slapd is missing: ./run test installs the Debian slapd package")
    server = start_directory(tmp_path_factory.mktemp("slapd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tls_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    """A second slapd that refuses every operation before StartTLS."""
    server = start_directory(tmp_path_factory.mktemp("slapd-tls"), tls=True)
    try:
        yield server
    finally:
        server.stop()


def configure(settings: Any, directory: Directory, **overrides: str) -> None:
    """Point Sinfonia (this test's settings) at ``directory`` as ``sinfonia/settings.py``
    would for the environment ``directory.env(**overrides)``."""
    settings.SINFONIA_LDAP = ldap_settings(directory.env(**overrides))
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "sinfonia.accounts.directory.DirectoryBackend",
    ]


@pytest.fixture
def ldap_on(directory: Directory, settings: Any, db: None) -> Directory:
    """Sinfonia configured (for this test) as ``SINFONIA_LDAP_*`` = ``directory.env()``."""
    configure(settings, directory)
    return directory


@pytest.fixture
def uid(request: pytest.FixtureRequest) -> str:
    """A user name of this test's own: the directory outlives each test's database."""
    return re.sub(r"\W+", "", request.node.name)[-10:].lower() + secrets.token_hex(2)
