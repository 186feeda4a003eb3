"""`sinfonia check`: Django's deploy checks, Sinfonia's own and any other registered check."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core import checks

from sinfonia.cli.check import check
from tests.transfers.live import SINFONIA


def sinfonia_check(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SINFONIA_")}
    return subprocess.run(
        [str(SINFONIA), "check", "--data", str(data), *args],
        env=clean | {"DJANGO_SETTINGS_MODULE": "sinfonia.settings"} | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unsafe_settings_are_errors_with_a_failing_exit_status(tmp_path):
    done = sinfonia_check(
        tmp_path, SINFONIA_DEBUG="1", SINFONIA_SECRET_KEY="changeme", SINFONIA_HTTPS="1"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ERROR    sinfonia.E001" in done.stdout  # debug on
    assert "ERROR    sinfonia.E002" in done.stdout  # secret key short
    assert "security.W009" in done.stdout  # Django's own deploy checks run as well
    assert "hint: Unset SINFONIA_DEBUG" in done.stdout
    assert "2 error(s)" in done.stdout


def test_public_hosts_without_https_sqlite_and_any_host_are_warnings(tmp_path):
    done = sinfonia_check(tmp_path, SINFONIA_ALLOWED_HOSTS="data.example.org")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sinfonia.W002" in done.stdout  # public name, HTTPS off
    assert "sinfonia.W003" in done.stdout  # SQLite
    assert "security.W012" in done.stdout  # session cookie not secure
    assert "sinfonia.W001" not in done.stdout  # hosts are restricted
    assert sinfonia_check(tmp_path, "--fail-on-warning").returncode == 1


def test_a_careful_https_deployment_has_no_sinfonia_problems(tmp_path):
    done = sinfonia_check(tmp_path, SINFONIA_HTTPS="1", SINFONIA_ALLOWED_HOSTS="data.example.org")
    assert done.returncode == 0, done.stdout + done.stderr
    for code in ("sinfonia.E", "sinfonia.W001", "sinfonia.W002", "W004", "W008", "W012", "W016"):
        assert code not in done.stdout.replace("sinfonia.W003", ""), (code, done.stdout)
    assert (tmp_path / "secret_key").exists()


def test_a_readable_secret_key_file_is_reported(tmp_path):
    sinfonia_check(tmp_path)  # creates the data folder and its secret key
    (tmp_path / "secret_key").chmod(0o644)
    assert "sinfonia.W004" in sinfonia_check(tmp_path).stdout


@pytest.mark.django_db
def test_any_registered_deploy_check_is_reported(settings: Any):
    def two_factor(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
        return [checks.Error("Administrator root has no second factor.", id="accounts.E901")]

    checks.register(two_factor, "accounts", deploy=True)
    try:
        out = io.StringIO()
        assert check(out=out) == 1
        assert "ERROR    accounts.E901" in out.getvalue()
        assert "Administrator root has no second factor." in out.getvalue()
    finally:
        checks.registry.registry.deployment_checks.discard(two_factor)
    settings.DEBUG = True
    out = io.StringIO()
    assert check(out=out) == 1 and "sinfonia.E001" in out.getvalue()


def test_a_check_that_cannot_run_is_reported_with_status_2():
    def broken(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
        raise ConnectionError("database unreachable")

    checks.register(broken, "accounts", deploy=True)
    try:
        out = io.StringIO()
        assert check(out=out) == 2
        assert "could not run: ConnectionError: database unreachable" in out.getvalue()
    finally:
        checks.registry.registry.deployment_checks.discard(broken)
