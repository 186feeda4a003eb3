"""Per-user staging areas: a private folder on disk with a quota, seen as ``/home`` over SFTP.

Layout: ``SINFONIA_SFTP_DIR/home/<username>/``. A staging area is outside the repository tree:
it holds what a user brings in before importing it (`staging_jobs.start_import`) and what they
send out of the repository to fetch it (`staging_jobs.start_export`). Rules kept here, whatever
the front-end:

- Paths are lists of names, each checked like a tree element's name (`clean_name`: no ``/``,
  NUL, ``.``/``..``, at most 255 bytes); symbolic links are never followed, nor listed, nor
  created, so nothing outside the area can be reached.
- The bytes of everything in the area count against ``SINFONIA_SFTP_QUOTA_BYTES``; a write
  that would go beyond fails with ``quota_exceeded`` and leaves the usage as it was. The
  usage is counted from disk once per process (and again by `recount`) and kept up to date by
  every write, truncation and removal made through this module.
- Changes made by a user (folders made, removed or renamed, files written or deleted) are
  audited with the action ``staging.*`` and the path ``/home/...``; reads of one's own area are
  not.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, NotFound, PermissionDenied, ServiceError
from sinfonia.core.names import clean_name
from sinfonia.transfers.errors import TransferError

if TYPE_CHECKING:
    from sinfonia.accounts.models import User

MAX_PAGE = 1000
_usage: dict[Path, int] = {}
_usage_lock = threading.Lock()


def home_root() -> Path:
    return Path(settings.SINFONIA_SFTP_DIR) / "home"


def quota() -> int:
    return int(settings.SINFONIA_SFTP_QUOTA_BYTES)


def split(path: str) -> list[str]:
    """``"a/b/c"`` or ``"/a/b/c"`` as checked names (``""`` and ``"/"``: the area itself)."""
    if "\x00" in path:
        raise Invalid(TransferError.STAGING_INVALID, "A path must not contain NUL characters.")
    return [clean_name(part) for part in path.split("/") if part]


@contextmanager
def os_errors(what: str) -> Iterator[None]:
    """Turn the file system's refusals into service errors a user can act on."""
    try:
        yield
    except OSError as exc:
        code = exc.errno
        if code in (errno.ENOENT, errno.ELOOP):
            raise NotFound(TransferError.STAGING_NOT_FOUND, f"No {what} there.") from exc
        if code == errno.EEXIST:
            raise Conflict(TransferError.STAGING_INVALID, f"The {what} already exists.") from exc
        if code == errno.ENOTEMPTY:
            raise Conflict(TransferError.STAGING_INVALID, "The folder is not empty.") from exc
        if code == errno.EISDIR:
            raise Invalid(TransferError.STAGING_INVALID, "That is a folder, not a file.") from exc
        if code == errno.ENOTDIR:
            raise Invalid(TransferError.STAGING_INVALID, "That is a file, not a folder.") from exc
        if code in (errno.ENOSPC, errno.EDQUOT):
            raise Conflict(
                TransferError.QUOTA_EXCEEDED, "quota exceeded: the server's disk is full."
            ) from exc
        if code in (errno.EACCES, errno.EPERM):
            raise PermissionDenied(
                TransferError.STAGING_INVALID, f"The {what} is protected."
            ) from exc
        raise


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    path: str
    is_dir: bool
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class EntryPage:
    path: str
    items: list[Entry]
    total: int
    offset: int
    limit: int
    usage: int
    quota: int


class Area:
    """One user's staging area. Every method takes the path inside it as a list of names."""

    def __init__(self, user: User, actor: Actor | None = None, *, audited: bool = True) -> None:
        self.user = user
        self.actor = actor
        self.audited = audited
        self.root = home_root() / user.username
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @classmethod
    def of(cls, actor: Actor, *, audit: bool = True) -> Area:
        """The actor's area; with ``audit=False`` its changes are not audited one by one (an
        export audits itself as a whole)."""
        if actor.user is None:
            raise PermissionDenied(TransferError.STAGING_INVALID, "Staging areas belong to users.")
        return cls(actor.user, actor, audited=audit)

    def require_write(self) -> None:
        """Changes need a read-write actor (not a read-only API key), checked before acting."""
        if self.actor is not None:
            self.actor.require_write()

    def audit(self, action: str, parts: Sequence[str], **detail: object) -> None:
        if self.actor is not None and self.audited:
            record(self.actor, f"staging.{action}", None, path="/home/" + "/".join(parts), **detail)

    # -- paths ---------------------------------------------------------------------------------
    def path(self, parts: Sequence[str]) -> Path:
        """The real path of ``parts``; refuses bad names and any symbolic link on the way."""
        current = self.root
        for part in parts:
            current = current / clean_name(part)
            if current.is_symlink():
                raise NotFound(TransferError.STAGING_NOT_FOUND, "Nothing there.")
        return current

    def stat(self, parts: Sequence[str]) -> os.stat_result:
        with os_errors("file or folder"):
            return os.lstat(self.path(parts))

    def entries(self, parts: Sequence[str]) -> list[tuple[str, os.stat_result]]:
        """A folder's files and folders (links and names that are not UTF-8 left out)."""
        folder = self.path(parts)
        out = []
        with os_errors("folder"), os.scandir(folder) as it:
            for item in it:
                try:
                    item.name.encode("utf-8")
                    st = item.stat(follow_symlinks=False)
                except (UnicodeEncodeError, OSError):
                    continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    out.append((item.name, st))
        out.sort(key=lambda e: (not stat.S_ISDIR(e[1].st_mode), e[0].casefold(), e[0]))
        return out

    # -- quota -----------------------------------------------------------------------------------
    def usage(self) -> int:
        with _usage_lock:
            if self.root not in _usage:
                _usage[self.root] = _count(self.root)
            return _usage[self.root]

    def recount(self) -> int:
        """Count the area's bytes from disk again (a session starts; files changed outside)."""
        total = _count(self.root)
        with _usage_lock:
            _usage[self.root] = total
        return total

    def reserve(self, nbytes: int) -> None:
        """Count ``nbytes`` more, or raise ``quota_exceeded`` if that goes beyond the quota."""
        if nbytes <= 0:
            self.release(-nbytes)
            return
        used = self.usage()
        with _usage_lock:
            used = _usage.get(self.root, used)
            if used + nbytes > quota():
                raise Conflict(
                    TransferError.QUOTA_EXCEEDED,
                    f"quota exceeded: your staging area holds {used} of {quota()} bytes; "
                    f"{nbytes} more do not fit.",
                )
            _usage[self.root] = used + nbytes

    def release(self, nbytes: int) -> None:
        with _usage_lock:
            if self.root in _usage:
                _usage[self.root] = max(0, _usage[self.root] - max(0, nbytes))

    # -- changes -------------------------------------------------------------------------------
    def mkdir(self, parts: Sequence[str]) -> None:
        if not parts:
            raise Conflict(TransferError.STAGING_INVALID, "The staging area exists.")
        self.require_write()
        with os_errors("folder"):
            os.mkdir(self.path(parts), 0o700)
        self.audit("mkdir", parts)

    def rmdir(self, parts: Sequence[str]) -> None:
        if not parts:
            raise PermissionDenied(TransferError.STAGING_INVALID, "The staging area stays.")
        self.require_write()
        with os_errors("folder"):
            os.rmdir(self.path(parts))
        self.audit("rmdir", parts)

    def remove(self, parts: Sequence[str]) -> None:
        self.require_write()
        path = self.path(parts)
        with os_errors("file"):
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                raise OSError(errno.EISDIR, "is a folder")
            os.unlink(path)
        self.release(st.st_size)
        self.audit("delete", parts, size=st.st_size)

    def remove_tree(self, parts: Sequence[str]) -> None:
        """Remove a file or a whole folder (after an import that asked for it)."""
        self.require_write()
        path = self.path(parts)
        with os_errors("file or folder"):
            if path.is_dir() and not path.is_symlink():
                for child in sorted(path.iterdir()):
                    self.remove_tree([*parts, child.name])
                os.rmdir(path)
            else:
                size = os.lstat(path).st_size
                os.unlink(path)
                self.release(size)

    def rename(self, old: Sequence[str], new: Sequence[str]) -> None:
        """Rename or move inside the area; never replaces an existing file or folder."""
        if not old or not new:
            raise PermissionDenied(TransferError.STAGING_INVALID, "The staging area stays.")
        self.require_write()
        source, target = self.path(old), self.path(new)
        with os_errors("file or folder"):
            os.lstat(source)
            if os.path.lexists(target):
                raise OSError(errno.EEXIST, "exists")
            os.rename(source, target)
        self.audit("rename", old, to="/home/" + "/".join(new))

    def set_times(self, parts: Sequence[str], atime: float | None, mtime: float | None) -> None:
        self.require_write()
        path = self.path(parts)
        with os_errors("file or folder"):
            st = os.lstat(path)
            os.utime(
                path,
                (st.st_atime if atime is None else atime, st.st_mtime if mtime is None else mtime),
            )

    def open(
        self,
        parts: Sequence[str],
        *,
        write: bool = False,
        read: bool = True,
        create: bool = False,
        truncate: bool = False,
        exclusive: bool = False,
        append: bool = False,
    ) -> StagingFile:
        if not parts:
            raise Invalid(TransferError.STAGING_INVALID, "That is a folder, not a file.")
        if write:
            self.require_write()
        path = self.path(parts)
        flags = os.O_NOFOLLOW | os.O_CLOEXEC
        flags |= (os.O_RDWR if read else os.O_WRONLY) if write else os.O_RDONLY
        if write and create:
            flags |= os.O_CREAT | (os.O_EXCL if exclusive else 0)
        with os_errors("file"):
            before = os.lstat(path).st_size if write and truncate and path.exists() else 0
            fd = os.open(path, flags, 0o600)
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    raise OSError(errno.EISDIR, "is a folder")
                if write and truncate:
                    os.ftruncate(fd, 0)
                    self.release(before)
                    st = os.fstat(fd)
            except BaseException:
                os.close(fd)
                raise
        return StagingFile(self, fd, st.st_size, writable=write, append=append, parts=parts)


class StagingFile:
    """An open file of a staging area: positional reads and quota-counted writes."""

    def __init__(
        self,
        area: Area,
        fd: int,
        size: int,
        *,
        writable: bool,
        append: bool,
        parts: Sequence[str] = (),
    ) -> None:
        self.area = area
        self.fd = fd
        self.size = size
        self.writable = writable
        self.append = append
        self.parts = list(parts)
        self.written = 0  # bytes written through this handle, for the audit record

    def read(self, offset: int, size: int) -> bytes:
        with os_errors("file"):
            return os.pread(self.fd, size, offset)

    def write(self, offset: int, data: bytes) -> None:
        if not self.writable:
            raise PermissionDenied(TransferError.STAGING_INVALID, "The file is open for reading.")
        if self.append:
            offset = self.size
        end = offset + len(data)
        growth = end - self.size
        if growth > 0:
            self.area.reserve(growth)
        try:
            with os_errors("file"):
                os.pwrite(self.fd, data, offset)
        except ServiceError:
            if growth > 0:
                self.area.release(growth)
            raise
        self.size = max(self.size, end)
        self.written += len(data)

    def truncate(self, size: int) -> None:
        self.area.reserve(size - self.size)
        with os_errors("file"):
            os.ftruncate(self.fd, size)
        self.size = size

    def stat(self) -> os.stat_result:
        return os.fstat(self.fd)

    def close(self) -> None:
        """Close; a handle that wrote is audited (``staging.write``, bytes and final size)."""
        os.close(self.fd)
        if self.writable and self.written:
            self.area.audit("write", self.parts, written=self.written, size=self.size)


def _count(root: Path) -> int:
    total = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def list_entries(actor: Actor, path: str = "", *, offset: int = 0, limit: int = 100) -> EntryPage:
    """One page of a folder of the actor's staging area: folders first, then files, by name."""
    area = Area.of(actor)
    parts = split(path)
    if not stat.S_ISDIR(area.stat(parts).st_mode):
        raise Invalid(TransferError.STAGING_INVALID, "That is a file, not a folder.")
    everything = area.entries(parts)
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    items = [
        Entry(
            name=name,
            path="/".join([*parts, name]),
            is_dir=stat.S_ISDIR(st.st_mode),
            size=0 if stat.S_ISDIR(st.st_mode) else st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        )
        for name, st in everything[offset : offset + limit]
    ]
    return EntryPage(
        path="/".join(parts),
        items=items,
        total=len(everything),
        offset=offset,
        limit=limit,
        usage=area.usage(),
        quota=quota(),
    )


def delete_entries(actor: Actor, paths: Sequence[str]) -> int:
    """Remove picked files and whole folders from the actor's staging area; the number removed.

    All the paths are checked before anything is removed, so one bad name or missing entry
    leaves the area as it was. Errors: NotFound (an entry), Invalid (a bad name, the area
    itself, nothing picked).
    """
    area = Area.of(actor)
    area.require_write()
    if not paths:
        raise Invalid(TransferError.STAGING_INVALID, "Pick at least one file or folder.")
    picked: list[list[str]] = []
    for path in dict.fromkeys(paths):
        parts = split(path)
        if not parts:
            raise Invalid(TransferError.STAGING_INVALID, "The staging area itself stays.")
        area.stat(parts)  # NotFound when missing
        picked.append(parts)
    # a folder and something inside it may both be picked: remove the outer one only
    outer = [p for p in picked if not any(q != p and p[: len(q)] == q for q in picked)]
    for parts in outer:
        area.remove_tree(parts)
        area.audit("delete", parts)
    return len(outer)
