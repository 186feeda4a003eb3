"""Early write-back for large files being received (tus uploads, SFTP parts).

A file written through the page cache stays dirty until the kernel decides to write it
(after some 30 s, or when a fifth of memory is dirty), so a 4 GB upload would otherwise reach
the disk only in the fsync that makes it durable: first the network, then the disk, one after
the other. Asking the kernel to start writing each finished stretch while the next one arrives
overlaps the two, and the final fsync waits only for the last stretch. It also keeps pages of
uploads out of the cache once written, so a large upload does not push everything else out.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

STEP = 64 * 1024 * 1024

# Starting write-back can block while the disk is busy: one thread of its own does it, so
# that the writer (an event loop, or the thread receiving the next bytes) never waits for it.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writeback")


class Writeback:
    """Follows one open file descriptor being filled from ``start`` onwards."""

    def __init__(self, fd: int, start: int = 0) -> None:
        self.fd = fd
        self.flushed = start // STEP * STEP
        self.pending: Future[None] | None = None

    def written(self, end: int) -> None:
        """The file holds its bytes up to ``end``: start writing back all but the last
        stretch (it may still be rewritten, and its pages are fresh in the cache)."""
        if end - self.flushed < 2 * STEP or not hasattr(os, "posix_fadvise"):
            return
        if self.pending is not None and not self.pending.done():
            return  # the disk is behind: the next call asks for the whole stretch
        upto = (end - STEP) // STEP * STEP
        # On Linux, POSIX_FADV_DONTNEED starts the write-back of the range's dirty pages
        # without waiting for it, and drops the range's pages that are clean already.
        self.pending = _POOL.submit(
            os.posix_fadvise, self.fd, self.flushed, upto - self.flushed, os.POSIX_FADV_DONTNEED
        )
        self.flushed = upto

    def written_all(self, end: int) -> None:
        """The writer is done for now (a request ended): start writing back everything up
        to ``end``; the fsync that makes the whole file durable comes when it is complete."""
        if end <= self.flushed or not hasattr(os, "posix_fadvise"):
            return
        if self.pending is not None:
            self.pending.exception()
        self.pending = _POOL.submit(
            os.posix_fadvise, self.fd, self.flushed, end - self.flushed, os.POSIX_FADV_DONTNEED
        )
        self.flushed = end

    def close(self) -> None:
        """Wait for the request in flight: the descriptor must outlive its use there."""
        if self.pending is not None:
            self.pending.exception()
            self.pending = None
