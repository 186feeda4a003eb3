"""One SFTP session: protocol requests routed to the staging area or the repository.

Requests that touch the database run in the server's worker threads (`Runner`); reads and
writes of open files are positional system calls made right here, on the event loop, which
keeps large transfers fast. No request reaches the server's own file system outside the
user's staging area: every method of asyncssh's local-file server is overridden.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from sinfonia.core.context import Actor
from sinfonia.sftp import paths, repository
from sinfonia.sftp.errors import translated
from sinfonia.sftp.paths import HOME, REPOSITORY, VPath
from sinfonia.transfers.services.parts import PartFile
from sinfonia.transfers.services.staging import Area, StagingFile, quota

T = TypeVar("T")
Runner = Callable[..., Any]  # ``await runner(fn, *args)`` runs fn in a worker thread
BLOCK = 4096


def _attrs(is_dir: bool, size: int, mtime: float, mode: int) -> SFTPAttrs:
    kind = stat.S_IFDIR if is_dir else stat.S_IFREG
    return SFTPAttrs(
        type=asyncssh.FILEXFER_TYPE_DIRECTORY if is_dir else asyncssh.FILEXFER_TYPE_REGULAR,
        size=size,
        permissions=kind | mode,
        atime=int(mtime),
        mtime=int(mtime),
        nlink=1,
    )


def _item_attrs(item: repository.Item) -> SFTPAttrs:
    return _attrs(item.is_dir, item.size, item.mtime, 0o755 if item.is_dir else 0o644)


def _local_attrs(st: os.stat_result) -> SFTPAttrs:
    is_dir = stat.S_ISDIR(st.st_mode)
    return _attrs(is_dir, 0 if is_dir else st.st_size, st.st_mtime, stat.S_IMODE(st.st_mode))


ROOT_ATTRS = _attrs(True, 0, 0, 0o555)


class Session(asyncssh.SFTPServer):
    """The files one signed-in user sees: ``/home`` and ``/repository``."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], actor: Actor, run: Runner):
        super().__init__(chan)
        self.actor = actor
        self.run = run
        self._area: Area | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        with translated():
            result: T = await self.run(fn, *args)
            return result

    async def area(self) -> Area:
        """The staging area, its usage counted again from disk once per session."""
        if self._area is None:
            area = await self._call(Area.of, self.actor)
            await self._call(area.recount)
            self._area = area
        return self._area

    # -- names and attributes ----------------------------------------------------------------
    def format_user(self, uid: int | None) -> str:
        return self.actor.username

    def format_group(self, gid: int | None) -> str:
        return ""

    def realpath(self, path: bytes) -> bytes:
        return ("/" + "/".join(paths.normalise(path))).encode("utf-8")

    async def stat(self, path: bytes) -> SFTPAttrs:
        vpath = paths.parse(path)
        if not vpath.area:
            return ROOT_ATTRS
        if vpath.area == HOME:
            area = await self.area()
            return _local_attrs(await self._call(area.stat, vpath.parts))
        return _item_attrs(await self._call(repository.stat, self.actor, vpath.parts))

    lstat = stat

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        vpath = paths.parse(path)
        for dot in (b".", b".."):
            yield SFTPName(dot, attrs=ROOT_ATTRS)
        if not vpath.area:
            for name in (HOME, REPOSITORY):
                yield SFTPName(name.encode(), attrs=ROOT_ATTRS)
        elif vpath.area == HOME:
            area = await self.area()
            for name, st in await self._call(area.entries, vpath.parts):
                yield SFTPName(name.encode("utf-8"), attrs=_local_attrs(st))
        else:
            offset, more = 0, True
            while more:
                items, more = await self._call(
                    repository.list_page, self.actor, vpath.parts, offset
                )
                offset += len(items)
                for item in items:
                    yield SFTPName(item.name.encode("utf-8"), attrs=_item_attrs(item))

    # -- files ---------------------------------------------------------------------------------
    async def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        vpath = paths.parse(path)
        write = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND))
        if not vpath.parts:
            raise asyncssh.SFTPFileIsADirectory(f"Is a directory: {vpath.text}")
        if vpath.area == HOME:
            area = await self.area()
            return await self._call(
                lambda: area.open(
                    vpath.parts,
                    write=write,
                    read=bool(pflags & asyncssh.FXF_READ),
                    create=bool(pflags & asyncssh.FXF_CREAT),
                    truncate=bool(pflags & asyncssh.FXF_TRUNC),
                    exclusive=bool(pflags & asyncssh.FXF_EXCL),
                    append=bool(pflags & asyncssh.FXF_APPEND),
                )
            )
        if not write:
            return await self._call(repository.open_read, self.actor, vpath.parts)
        return await self._open_upload(vpath, pflags)

    async def _open_upload(self, vpath: VPath, pflags: int) -> PartFile:
        if not pflags & asyncssh.FXF_CREAT or pflags & asyncssh.FXF_EXCL:
            pending = await self._pending(vpath)
            if pending and pflags & asyncssh.FXF_EXCL:
                raise asyncssh.SFTPFailure(f"File exists: {vpath.text}")
            if not pending and not pflags & asyncssh.FXF_CREAT:
                raise asyncssh.SFTPNoSuchFile(f"No such file: {vpath.text}")
        part: PartFile = await self._call(
            lambda: repository.open_write(
                self.actor,
                vpath.parts,
                truncate=bool(pflags & asyncssh.FXF_TRUNC),
                append=bool(pflags & asyncssh.FXF_APPEND),
            )
        )
        return part

    async def _pending(self, vpath: VPath) -> bool:
        try:
            await self._call(repository.stat, self.actor, vpath.parts)
        except asyncssh.SFTPNoSuchFile:
            return False
        return True

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        with translated():
            if isinstance(file_obj, repository.Reader):
                return file_obj.read(offset, size)
            if isinstance(file_obj, StagingFile | PartFile):
                return file_obj.read(offset, size)
        raise asyncssh.SFTPInvalidHandle("Invalid file handle")

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        with translated():
            if isinstance(file_obj, PartFile | StagingFile):
                file_obj.write(offset, data)
                return len(data)
        raise asyncssh.SFTPPermissionDenied("The file is open for reading only.")

    async def close(self, file_obj: object) -> None:
        if isinstance(file_obj, PartFile):
            if self.channel.is_closing():
                file_obj.abandon()  # the client went away: keep the bytes for `reput`
            else:
                await self._call(file_obj.finish)
        elif isinstance(file_obj, StagingFile):
            await self._call(file_obj.close)  # audits a write: database work off the loop
        elif isinstance(file_obj, repository.Reader):
            file_obj.close()

    def fstat(self, file_obj: object) -> SFTPAttrs:
        if isinstance(file_obj, repository.Reader):
            return _attrs(False, file_obj.size, 0, 0o444)
        if isinstance(file_obj, PartFile):
            return _attrs(False, file_obj.size, 0, 0o644)
        if isinstance(file_obj, StagingFile):
            return _local_attrs(file_obj.stat())
        raise asyncssh.SFTPInvalidHandle("Invalid file handle")

    async def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Times are kept in /home; elsewhere the change is accepted and ignored (clients
        send permissions and times after uploads; repository times are the server's)."""
        vpath = paths.parse(path)
        if vpath.area == HOME:
            area = await self.area()
            await self._call(area.set_times, vpath.parts, attrs.atime, attrs.mtime)
        elif vpath.area == REPOSITORY:
            await self._call(repository.ensure_exists, self.actor, vpath.parts)

    lsetstat = setstat

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        with translated():
            if attrs.size is not None and isinstance(file_obj, StagingFile | PartFile):
                file_obj.truncate(attrs.size)
            if isinstance(file_obj, StagingFile) and attrs.mtime is not None:
                os.utime(file_obj.fd, (attrs.atime or attrs.mtime, attrs.mtime))

    def fsync(self, file_obj: object) -> None:
        """Uploads are flushed to disk when closed; staging files on request."""
        if isinstance(file_obj, StagingFile):
            os.fsync(file_obj.fd)

    # -- directories and names -----------------------------------------------------------------
    async def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        vpath = paths.parse(path)
        if vpath.area == HOME and vpath.parts:
            area = await self.area()
            await self._call(area.mkdir, vpath.parts)
        elif vpath.area == REPOSITORY and vpath.parts:
            await self._call(repository.mkdir, self.actor, vpath.parts)
        else:
            raise asyncssh.SFTPFailure(f"{vpath.text} exists.")

    async def rmdir(self, path: bytes) -> None:
        vpath = paths.parse(path)
        if vpath.area == HOME and vpath.parts:
            area = await self.area()
            await self._call(area.rmdir, vpath.parts)
        elif vpath.area == REPOSITORY and vpath.parts:
            await self._call(repository.rmdir, self.actor, vpath.parts)
        else:
            raise asyncssh.SFTPPermissionDenied(f"{vpath.text} cannot be removed.")

    async def remove(self, path: bytes) -> None:
        vpath = paths.parse(path)
        if not vpath.parts:
            raise asyncssh.SFTPFileIsADirectory(f"Is a directory: {vpath.text}")
        if vpath.area == HOME:
            area = await self.area()
            await self._call(area.remove, vpath.parts)
        else:
            await self._call(repository.remove, self.actor, vpath.parts)

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        old, new = paths.parse(oldpath), paths.parse(newpath)
        if not old.parts or not new.parts:
            raise asyncssh.SFTPPermissionDenied("/home and /repository cannot be renamed.")
        if old.area != new.area:
            raise asyncssh.SFTPOpUnsupported(
                "Moving between /home and /repository is an import or export: use the "
                "portal's SFTP page (or /api/v1/sftp/import and /export)."
            )
        if old.area == HOME:
            area = await self.area()
            await self._call(area.rename, old.parts, new.parts)
        else:
            await self._call(repository.rename, self.actor, old.parts, new.parts)

    posix_rename = rename  # never replaces an existing file either

    def readlink(self, path: bytes) -> bytes:
        paths.parse(path)
        raise asyncssh.SFTPFailure("Not a symbolic link: there are no links here.")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("Symbolic links cannot be created.")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("Links cannot be created.")

    def open56(self, path: bytes, desired_access: int, flags: int, attrs: SFTPAttrs) -> object:
        raise asyncssh.SFTPOpUnsupported("SFTP version 3 only.")

    async def statvfs(self, path: bytes) -> asyncssh.SFTPVFSAttrs:
        """The staging area's quota, as a file system (``df`` in the sftp client)."""
        area = await self.area()
        total, used = quota(), await self._call(area.usage)
        free = max(0, total - used) // BLOCK
        return asyncssh.SFTPVFSAttrs(
            bsize=BLOCK,
            frsize=BLOCK,
            blocks=total // BLOCK,
            bfree=free,
            bavail=free,
            namemax=255,
        )

    async def fstatvfs(self, file_obj: object) -> asyncssh.SFTPVFSAttrs:
        return await self.statvfs(b"/home")

    def exit(self) -> None:
        """Open files are closed by asyncssh first (`close`); nothing else is held."""
