"""Client paths: decoded, normalised and kept inside the virtual root.

The virtual root ``/`` holds two folders: ``/home`` (the staging area) and ``/repository``
(the tree). ``.`` and ``..`` are resolved here, by name only; a ``..`` that would climb above
``/`` is refused, not clamped, so that an escape attempt is answered as one.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import asyncssh

HOME = "home"
REPOSITORY = "repository"
MAX_PATH_BYTES = 4096


@dataclass(frozen=True, slots=True)
class VPath:
    """A normalised path: ``area`` is "" (the root), HOME or REPOSITORY; ``parts`` follow."""

    area: str
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        names = [self.area, *self.parts] if self.area else []
        return "/" + "/".join(names)

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else self.area

    @property
    def parent(self) -> VPath:
        if self.parts:
            return VPath(self.area, self.parts[:-1])
        return VPath("", ())

    @property
    def tree_path(self) -> str:
        """The path inside the repository tree (``/Collection/Folder``)."""
        return "/" + "/".join(self.parts)


def normalise(raw: bytes) -> list[str]:
    """The names of ``raw`` (relative paths start at ``/``), ``.`` and ``..`` resolved."""
    if len(raw) > MAX_PATH_BYTES:
        raise asyncssh.SFTPFailure(f"Path longer than {MAX_PATH_BYTES} bytes.")
    if b"\x00" in raw:
        raise asyncssh.SFTPFailure("A path must not contain NUL characters.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise asyncssh.SFTPFailure("Paths must be UTF-8 text.") from None
    names: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not names:
                raise asyncssh.SFTPPermissionDenied("That path leads outside the SFTP root.")
            names.pop()
            continue
        names.append(unicodedata.normalize("NFC", segment))
    return names


def parse(raw: bytes) -> VPath:
    """The virtual path named by ``raw``; anything outside /home and /repository is missing."""
    names = normalise(raw)
    if not names:
        return VPath("", ())
    if names[0] not in (HOME, REPOSITORY):
        raise asyncssh.SFTPNoSuchFile(f"No such file or directory: /{names[0]}")
    return VPath(names[0], tuple(names[1:]))
