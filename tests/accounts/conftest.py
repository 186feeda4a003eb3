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


@pytest.fixture
def ldap_on(directory: Directory, settings: Any, db: None) -> Directory:
    """Sinfonia configured (for this test) as ``SINFONIA_LDAP_*`` = ``directory.env()``."""
    settings.SINFONIA_LDAP = ldap_settings(directory.env())
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "sinfonia.accounts.directory.DirectoryBackend",
    ]
    return directory


@pytest.fixture
def uid(request: pytest.FixtureRequest) -> str:
    """A user name of this test's own: the directory outlives each test's database."""
    return re.sub(r"\W+", "", request.node.name)[-10:].lower() + secrets.token_hex(2)
