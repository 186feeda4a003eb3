"""Empty files and folders made ahead of need by a helper process, for the blob store's writes.

Making a file or folder allocates an inode, which on some file systems costs far more than
writing a small file's bytes: 0.3-0.8 ms of kernel CPU apiece on the ext4 disks of the
virtual machines we measure on, against 0.02 ms to open an existing empty file and write
33 kB into it (and a metadata-server round trip on network file systems). Storing a small
DICOM instance needs up to three: its temporary file and, in a young store, its two blob
folders. With a reserve, the request thread only opens, writes and renames; the inodes are
made by a helper process (a process, not a thread: a thread would wait for the interpreter
lock after every system call while the request thread runs Python).

Layout, in the blob store's temporary folder (on the blobs' file system, so that renames
work): ``reserve-<pid>/`` for the server process ``pid``; in it the helper fills
``filling-<n>/`` with empty files (or empty folders), then renames it ``ready-f<n>`` (or
``ready-d<n>``); the server claims a ready folder by renaming it ``taken-<n>`` (so no two
threads, and never the helper, work in one folder) and moves its files and folders out one
by one; the helper removes emptied ``taken-`` folders. The helper stops when the server
process is gone; `sweep` removes what dead servers left.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

PREFIX = "reserve-"
PER_FOLDER = 64  # empty files, and as many empty folders, per ready folder
READY = 4  # ready folders the helper keeps
POLL = 0.005  # seconds between the helper's looks while its folders are being used
IDLE_POLL = 0.2  # ... and at most when not


def fill(root: Path, server_pid: int, *, per_folder: int = PER_FOLDER, ready: int = READY) -> None:
    """The helper's loop: while the process ``server_pid`` lives, keep folders of
    ``per_folder`` empty files (``ready-f<n>``) and of as many empty folders (``ready-d<n>``)
    in ``root``: one of each until the server has taken one, then ``ready`` of each. It looks
    every few milliseconds while they are being used, less often when not."""
    n = 0
    made = {"f": 0, "d": 0}
    delay = POLL
    while os.getppid() == server_pid:
        waiting = {"f": 0, "d": 0}
        for entry in os.scandir(root):
            if entry.name.startswith("ready-"):
                waiting[entry.name[6]] += 1
            elif entry.name.startswith("taken-"):
                with contextlib.suppress(OSError):  # not empty yet
                    os.rmdir(entry.path)
        kind = next(
            (k for k in waiting if waiting[k] < (ready if made[k] > waiting[k] else 1)), None
        )
        if kind is None:
            time.sleep(delay)
            delay = min(delay * 2, IDLE_POLL)
            continue
        delay = POLL
        n += 1
        filling = root / f"filling-{n}"
        filling.mkdir()
        for i in range(per_folder):
            if kind == "f":
                os.close(os.open(filling / str(i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            else:
                os.mkdir(filling / str(i))
        os.rename(filling, root / f"ready-{kind}{n}")
        made[kind] += 1


class Reserve:
    """The server's side: claims the helper's ready folders and hands out their contents."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self.pid = os.getpid()
        self.root = parent / f"{PREFIX}{self.pid}"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self._files: collections.deque[Path] = collections.deque()
        self._folders: collections.deque[Path] = collections.deque()
        self._lock = threading.Lock()
        self._claimed = 0
        self._helper = subprocess.Popen(
            [sys.executable, "-m", "sinfonia.storage.reserve", str(self.root), str(self.pid)],
            stdin=subprocess.DEVNULL,
        )

    @property
    def running(self) -> bool:
        return self._helper.poll() is None and os.getpid() == self.pid

    def take_file(self) -> Path | None:
        """An empty file of this process's own to write into (O_WRONLY, no O_CREAT), or None
        when none is ready."""
        return self._take(self._files, "f")

    def take_folder(self) -> Path | None:
        """An empty folder to rename into place, or None when none is ready."""
        return self._take(self._folders, "d")

    def _take(self, items: collections.deque[Path], kind: str) -> Path | None:
        try:
            return items.popleft()
        except IndexError:
            pass
        with self._lock:
            if not items:
                self._claim(items, kind)
        try:
            return items.popleft()
        except IndexError:
            return None

    def _claim(self, items: collections.deque[Path], kind: str) -> None:
        """Rename a ready folder of ``kind`` to ``taken-<n>`` and queue what it holds."""
        try:
            names = [e.name for e in os.scandir(self.root) if e.name.startswith(f"ready-{kind}")]
        except OSError:
            return
        for name in names:
            self._claimed += 1
            taken = self.root / f"taken-{self._claimed}"
            try:
                os.rename(self.root / name, taken)
            except OSError:
                continue
            items.extend(taken / entry.name for entry in os.scandir(taken))
            return

    def close(self) -> None:
        """Stop the helper and remove what is left."""
        if os.getpid() != self.pid:
            return
        self._helper.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._helper.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def sweep(parent: Path) -> int:
    """Remove the reserves of server processes that are gone (a crash, a kill); how many."""
    removed = 0
    if not parent.is_dir():
        return 0
    for path in parent.glob(f"{PREFIX}*"):
        pid_text = path.name[len(PREFIX) :]
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


_CURRENT: Reserve | None = None


def start(parent: Path) -> Reserve:
    """Keep a reserve for this process's blob writes in ``parent`` (`blobstore.tmp_dir`)."""
    global _CURRENT
    stop()
    _CURRENT = Reserve(parent)
    return _CURRENT


def stop() -> None:
    global _CURRENT
    if _CURRENT is not None:
        _CURRENT.close()
        _CURRENT = None


def current(parent: Path) -> Reserve | None:
    """This process's reserve when it serves ``parent`` and its helper runs, else None."""
    reserve = _CURRENT
    if reserve is None or reserve.parent != parent or not reserve.running:
        return None
    return reserve


if __name__ == "__main__":  # the helper: python -m sinfonia.storage.reserve ROOT SERVER_PID
    with contextlib.suppress(KeyboardInterrupt, FileNotFoundError):  # stopped; folder removed
        fill(Path(sys.argv[1]), int(sys.argv[2]))
