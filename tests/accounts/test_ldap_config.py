"""LDAP settings: from the environment or a TOML file, checked before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from sinfonia.accounts.directory import django_auth_ldap_settings
from sinfonia.settings import ldap_settings

ENV = {
    "SINFONIA_LDAP_URL": "ldap://ldap.example.org",
    "SINFONIA_LDAP_USER_BASE": "ou=people,dc=example,dc=org",
}


def test_no_url_means_no_ldap() -> None:
    assert ldap_settings({}) is None
    assert ldap_settings({"SINFONIA_LDAP_USER_BASE": "ou=people,dc=example,dc=org"}) is None


def test_environment_with_defaults() -> None:
    conf = ldap_settings(ENV | {"SINFONIA_LDAP_STARTTLS": "1", "SINFONIA_LDAP_TIMEOUT": "3"})
    assert conf is not None
    assert conf["url"] == "ldap://ldap.example.org"
    assert conf["user_filter"] == "(uid=%(user)s)"
    assert conf["starttls"] is True and conf["timeout"] == 3
    translated = django_auth_ldap_settings(conf)
    assert translated["START_TLS"] is True
    assert translated["USER_ATTR_MAP"] == {
        "first_name": "givenName",
        "last_name": "sn",
        "email": "mail",
    }
    assert "GROUP_SEARCH" not in translated  # no group base: no group look-ups at all


def test_file_with_environment_on_top(tmp_path: Path) -> None:
    path = tmp_path / "ldap.toml"
    path.write_text(
        'url = "ldaps://file.example.org"\n'
        'user_base = "ou=staff,dc=example,dc=org"\n'
        'group_base = "ou=groups,dc=example,dc=org"\n'
        'group_type = "posixGroup"\n'
        'mirror_groups = "radiology, oncology"\n'
        "starttls = false\n"
        "timeout = 5\n"
    )
    conf = ldap_settings(
        {"SINFONIA_LDAP_CONFIG": str(path), "SINFONIA_LDAP_BIND_PASSWORD": "from-env"}
    )
    assert conf is not None
    assert (conf["url"], conf["bind_password"], conf["timeout"]) == (
        "ldaps://file.example.org",
        "from-env",
        5,
    )
    translated = django_auth_ldap_settings(conf)
    assert type(translated["GROUP_TYPE"]).__name__ == "PosixGroupType"
    assert translated["GROUP_SEARCH"].filterstr == "(objectClass=posixGroup)"

    path.write_text('url = "ldap://x"\nuser_bse = "typo"\n')
    with pytest.raises(ImproperlyConfigured, match="user_bse"):
        ldap_settings({"SINFONIA_LDAP_CONFIG": str(path)})


def test_incomplete_settings_are_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="USER_BASE"):
        ldap_settings({"SINFONIA_LDAP_URL": "ldap://ldap.example.org"})
    with pytest.raises(ImproperlyConfigured, match="GROUP_BASE"):
        ldap_settings(ENV | {"SINFONIA_LDAP_MIRROR_GROUPS": "radiology"})
    with pytest.raises(ImproperlyConfigured, match="GROUP_TYPE"):
        ldap_settings(ENV | {"SINFONIA_LDAP_GROUP_TYPE": "posixgroups"})
    with pytest.raises(ImproperlyConfigured, match="'phone=telephoneNumber'"):
        ldap_settings(ENV | {"SINFONIA_LDAP_USER_ATTRS": "email=mail,phone=telephoneNumber"})
    nothing = ldap_settings(ENV | {"SINFONIA_LDAP_USER_ATTRS": ""})
    assert nothing is not None and django_auth_ldap_settings(nothing)["USER_ATTR_MAP"] == {}
    with pytest.raises(ImproperlyConfigured, match="TIMEOUT: not a number"):
        ldap_settings(ENV | {"SINFONIA_LDAP_TIMEOUT": "ten"})


def _serve(
    tmp_path: Path, env: dict[str, str], prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """``sinfonia serve`` in a subprocess (``prelude`` runs first, in the same interpreter)."""
    code = (
        f"import sys\n{prelude}\nfrom sinfonia.cli import main\n"
        f"sys.exit(main(['serve', '--data', {str(tmp_path / 'data')!r}, '--port', '0']))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_without_the_ldap_extra_says_what_to_install(tmp_path: Path) -> None:
    # python-ldap hidden as if `pip install sinfonia` had been run without [ldap]
    done = _serve(tmp_path, ENV, prelude="sys.modules['ldap'] = None")
    assert done.returncode != 0
    assert "sinfonia[ldap]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_incomplete_settings_says_which(tmp_path: Path) -> None:
    done = _serve(tmp_path, {"SINFONIA_LDAP_URL": "ldap://ldap.example.org"})
    assert done.returncode != 0
    assert "sinfonia: SINFONIA_LDAP_URL is set but SINFONIA_LDAP_USER_BASE is not" in done.stderr
    assert "Traceback" not in done.stderr
