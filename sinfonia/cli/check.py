"""`sinfonia check`: Django's system checks with the deployment ones and every check another
part of Sinfonia registered (sinfonia/core/checks.py, sinfonia/accounts/checks.py, ...), as a
readable report. Exit status 1 when there are errors (or warnings, with --fail-on-warning), 2
when a check could not run at all (the database unreachable, for one)."""

from __future__ import annotations

import sys
from typing import TextIO

from django.conf import settings
from django.core import checks

LABELS = {
    checks.CRITICAL: "CRITICAL",
    checks.ERROR: "ERROR",
    checks.WARNING: "WARNING",
    checks.INFO: "INFO",
    checks.DEBUG: "DEBUG",
}


def run_checks() -> list[checks.CheckMessage]:
    """Every registered check, deployment ones included, minus the silenced ones."""
    found = checks.run_checks(include_deployment_checks=True, databases=["default"])
    silenced = set(settings.SILENCED_SYSTEM_CHECKS)
    return [m for m in found if m.id not in silenced]


def report(found: list[checks.CheckMessage], out: TextIO) -> tuple[int, int]:
    """Write the report; return (errors, warnings)."""
    found = sorted(found, key=lambda m: (-m.level, m.id or ""))
    for m in found:
        where = f" ({m.obj})" if m.obj is not None and str(m.obj) != "None" else ""
        print(f"{LABELS.get(m.level, m.level):<8} {m.id or '-':<16} {m.msg}{where}", file=out)
        if m.hint:
            print(f"{'':<8} {'':<16} hint: {m.hint}", file=out)
    errors = sum(1 for m in found if m.is_serious())
    warnings = sum(1 for m in found if m.level == checks.WARNING)
    if not found:
        print("No problems found.", file=out)
    else:
        print(f"\n{errors} error(s), {warnings} warning(s).", file=out)
    return errors, warnings


def check(*, fail_on_warning: bool = False, out: TextIO = sys.stdout) -> int:
    try:
        found = run_checks()
    except Exception as exc:  # a check that cannot run (database unreachable, ...) is an error
        print(f"CRITICAL a check could not run: {type(exc).__name__}: {exc}", file=out)
        return 2
    errors, warnings = report(found, out)
    return 1 if errors or (fail_on_warning and warnings) else 0
