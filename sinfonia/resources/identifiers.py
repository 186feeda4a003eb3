"""Project identifiers ("SINFONIA IDs"): a configurable structured scheme.

The default scheme follows the consortium's proposal (reference report §3.2): a *general part*
made of the project id, an internal id tied to the work-package task, the partner id and the
patient's serial number, and a *specific part* with the partner's own notation (paediatric
patient, anatomical region...). Written out::

    SINFONIA-T2.1-SERGAS-0042_PED.BRAIN
    └project┘ └task┘ └partner┘ └patient┘ └specific┘

A resource that groups several patients may carry a leading prefix of the general part only
(``SINFONIA-T2.1-SERGAS``). Another scheme can be loaded from the JSON file named by
``SINFONIA_ID_SCHEME`` (same shape as `DEFAULT_SCHEME`); see docs/admin.md.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from sinfonia.core.errors import Invalid
from sinfonia.resources.errors import ResourceError

DEFAULT_SCHEME: dict[str, Any] = {
    "name": "SINFONIA ID",
    "separator": "-",
    "specific_separator": "_",
    "allow_prefix": True,
    "general": [
        {
            "key": "project",
            "label": "Project",
            "pattern": "[A-Z][A-Z0-9]{1,15}",
            "example": "SINFONIA",
        },
        {
            "key": "task",
            "label": "Work-package task",
            "pattern": r"T[1-9][0-9]?\.[0-9]{1,2}(\.[0-9]{1,2})?",
            "example": "T2.1",
        },
        {
            "key": "partner",
            "label": "Partner",
            "pattern": "[A-Z][A-Z0-9]{1,11}",
            "example": "SERGAS",
        },
        {
            "key": "patient",
            "label": "Patient serial number",
            "pattern": "[0-9]{3,8}",
            "example": "0042",
        },
    ],
    "specific": {
        "key": "specific",
        "label": "Partner notation",
        "pattern": r"[A-Za-z0-9]+(\.[A-Za-z0-9]+)*",
        "example": "PED.BRAIN",
    },
}


@dataclass(frozen=True, slots=True)
class Component:
    key: str
    label: str
    pattern: re.Pattern[str]
    example: str


@dataclass(frozen=True, slots=True)
class Scheme:
    name: str
    separator: str
    specific_separator: str
    allow_prefix: bool
    general: tuple[Component, ...]
    specific: Component

    def describe(self) -> dict[str, Any]:
        def one(c: Component) -> dict[str, str]:
            return {
                "key": c.key,
                "label": c.label,
                "pattern": c.pattern.pattern,
                "example": c.example,
            }

        return {
            "name": self.name,
            "separator": self.separator,
            "specific_separator": self.specific_separator,
            "allow_prefix": self.allow_prefix,
            "general": [one(c) for c in self.general],
            "specific": one(self.specific),
            "example": self.format({c.key: c.example for c in self.general}, self.specific.example),
        }

    def format(self, general: dict[str, str], specific: str = "") -> str:
        parts = [general[c.key] for c in self.general if general.get(c.key)]
        text = self.separator.join(parts)
        return f"{text}{self.specific_separator}{specific}" if specific else text


@dataclass(frozen=True, slots=True)
class ProjectId:
    """A validated identifier: its canonical text and its components."""

    value: str
    general: dict[str, str] = field(default_factory=dict)
    specific: str = ""
    specific_key: str = "specific"  # the scheme's key for the specific part

    def as_parts(self) -> dict[str, str]:
        parts = dict(self.general)
        if self.specific:
            parts[self.specific_key] = self.specific
        return parts


def _compile(raw: dict[str, Any]) -> Scheme:
    def comp(c: dict[str, Any]) -> Component:
        return Component(
            key=str(c["key"]),
            label=str(c.get("label", c["key"])),
            pattern=re.compile(str(c["pattern"])),
            example=str(c.get("example", "")),
        )

    return Scheme(
        name=str(raw.get("name", "Project ID")),
        separator=str(raw.get("separator", "-")),
        specific_separator=str(raw.get("specific_separator", "_")),
        allow_prefix=bool(raw.get("allow_prefix", True)),
        general=tuple(comp(c) for c in raw["general"]),
        specific=comp(raw["specific"]),
    )


@functools.cache
def _scheme_from(path: str) -> Scheme:
    if not path:
        return _compile(DEFAULT_SCHEME)
    return _compile(json.loads(Path(path).read_text(encoding="utf-8")))


def scheme() -> Scheme:
    return _scheme_from(settings.SINFONIA_ID_SCHEME)


def _bad(message: str) -> Invalid:
    return Invalid(ResourceError.INVALID_SINFONIA_ID, message)


def parse(text: str) -> ProjectId:
    """Validate ``text`` against the scheme; "" means "no identifier"."""
    s = scheme()
    text = text.strip()
    if not text:
        return ProjectId(value="")
    general_text, _, specific = text.partition(s.specific_separator)
    values = general_text.split(s.separator)
    return build(
        dict(zip((c.key for c in s.general), values, strict=False)), specific, given=len(values)
    )


def build(general: dict[str, str], specific: str = "", *, given: int | None = None) -> ProjectId:
    """Validate components given one by one (the portal's form, the API's object form)."""
    s = scheme()
    count = given if given is not None else len(s.general)
    if count > len(s.general):
        raise _bad(
            f"A {s.name} has at most {len(s.general)} general components "
            f"({', '.join(c.label for c in s.general)})."
        )
    clean: dict[str, str] = {}
    missing_from: Component | None = None
    for comp in s.general:
        value = (general.get(comp.key) or "").strip()
        if not value:
            missing_from = missing_from or comp
            continue
        if missing_from is not None:
            raise _bad(f"{missing_from.label} is missing but {comp.label} is given.")
        if not comp.pattern.fullmatch(value):
            raise _bad(
                f"{comp.label} {value!r} does not match the scheme "
                f"(expected like {comp.example!r}, pattern {comp.pattern.pattern})."
            )
        clean[comp.key] = value
    unknown = set(general) - {c.key for c in s.general}
    if unknown:
        raise _bad(f"Unknown {s.name} component(s): {', '.join(sorted(unknown))}.")
    if not clean and not specific:
        return ProjectId(value="")
    if not clean:
        raise _bad(f"The {s.general[0].label} component is required.")
    if missing_from is not None and not s.allow_prefix:
        raise _bad(f"{missing_from.label} is missing.")
    specific = specific.strip()
    if specific:
        if missing_from is not None:
            raise _bad(
                f"A {s.specific.label.lower()} needs the whole general part; "
                f"{missing_from.label} is missing."
            )
        if not s.specific.pattern.fullmatch(specific):
            raise _bad(
                f"{s.specific.label} {specific!r} does not match the scheme "
                f"(expected like {s.specific.example!r})."
            )
    return ProjectId(
        value=s.format(clean, specific),
        general=clean,
        specific=specific,
        specific_key=s.specific.key,
    )
