"""Reading instance headers in a helper process while the request thread goes on.

Reading a small instance's header (pydicom, then its DICOM JSON, `header.read`) costs about
0.4 ms of Python, a quarter of what storing it through STOW-RS costs. STOW-RS hands the
parts' bytes to a helper as they arrive (`Batch.submit`, ``CHUNK`` parts at a time) and
collects the headers once the batch's bytes are durable (`Reading.header`); by then most
are read, on another core. A process, not a thread: a thread would hold the interpreter
lock while it parses. Chunks, because each trip through the executor waits for its
threads, which wait for the interpreter lock the request thread holds. When the request
thread would wait for a chunk, it reads the batch's chunks that no helper has started
yet itself, last first, so that both cores read until all are read.

`sinfonia serve` starts the helpers (`start`; ``SINFONIA_HEADER_READERS``, 0 turns them off).
Without them (tests, the command line, a helper that died) a header is read in the caller's
thread, with the same result and the same errors. A helper that takes longer than
``TIMEOUT`` over a chunk is replaced and its instances refused, rather than holding the
request forever.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sinfonia.dicom.header import Header, Unreadable, read

log = logging.getLogger("sinfonia.dicom")

TIMEOUT = 120.0  # seconds a chunk of headers may take in a helper

_pool: ProcessPoolExecutor | None = None
_workers = 0
_lock = threading.Lock()


def _read_bytes(data: bytes) -> Header | str:
    """In a helper: the header of ``data``, or why it is unreadable (a message travels back
    more simply than an exception with its cause)."""
    try:
        return read(io.BytesIO(data))
    except Unreadable as exc:
        return str(exc)


def _warm() -> None:
    """In a helper: nothing; its first task makes it start and import what `read` needs."""


def _watch(server: int) -> None:
    """In a helper, at its start: end when the server process is gone (killed, say), which
    the executor's queues never tell it."""

    def watch() -> None:
        while os.getppid() == server:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="watch-server", daemon=True).start()


CHUNK = 10  # instances handed to a helper together: fewer trips through the executor


def _read_all(datas: list[bytes]) -> list[Header | str]:
    """`_read_bytes` of each (in a helper, or here for a chunk no helper has started)."""
    return [_read_bytes(data) for data in datas]


class _Chunk:
    """Instances' bytes handed to a helper together, and what came back."""

    __slots__ = ("batch", "datas", "future", "here", "pool", "results")

    def __init__(self, batch: list[_Chunk]) -> None:
        self.batch = batch  # the chunks of its batch, in order
        self.datas: list[bytes] = []
        self.future: Future[list[Header | str]] | None = None
        self.pool: ProcessPoolExecutor | None = None
        self.results: list[Header | str] | None = None
        self.here = False  # read in the caller's thread (the helper died over it)

    def send(self) -> None:
        if self.future is not None or self.results is not None or self.here:
            return
        pool = self.pool = _pool
        if pool is not None:
            with contextlib.suppress(RuntimeError, BrokenProcessPool):  # stopping, or broken
                self.future = pool.submit(_read_all, self.datas)

    def steal(self) -> None:
        """Read here, last first, the chunks after this one that no helper has started: while
        the caller would wait for this one, both cores read."""
        for chunk in reversed(self.batch):
            if chunk is self or (self.future is not None and self.future.done()):
                return
            if chunk.future is not None and chunk.future.cancel():
                chunk.future = None
                chunk.results = _read_all(chunk.datas)

    def result(self, index: int) -> Header | str | None:
        """What the helper made of instance ``index``; None: read it here."""
        self.send()
        if self.future is not None and not self.future.done():
            self.steal()
        future, self.future = self.future, None
        if future is not None:
            try:
                self.results = future.result(timeout=TIMEOUT)
            except FutureTimeout:
                _replace(self.pool)
                message = f"Reading the header took longer than {TIMEOUT:.0f} s; refused."
                self.results = [message] * len(self.datas)
            except BrokenProcessPool:
                _replace(self.pool)  # a helper died (killed, out of memory): read them here
                self.here = True
            except CancelledError:  # its pool was replaced over another request's chunk
                self.here = True
        return None if self.results is None else self.results[index]


class Reading:
    """The header of one instance's bytes, being read in a helper or to be read here."""

    __slots__ = ("_chunk", "_index")

    def __init__(self, chunk: _Chunk, index: int) -> None:
        self._chunk = chunk
        self._index = index

    @property
    def in_helper(self) -> bool:
        return self._chunk.pool is not None

    def header(self) -> Header:
        """The header; `Unreadable` when the bytes are no complete Part 10 file."""
        result = self._chunk.result(self._index)
        if isinstance(result, str):
            raise Unreadable(result)
        if result is None:
            return read(io.BytesIO(self._chunk.datas[self._index]))
        return result


class Batch:
    """Headers of the instances of one batch, read in a helper as they arrive, ``CHUNK`` at a
    time (asking for a header sends what is still waiting)."""

    def __init__(self) -> None:
        self._chunks: list[_Chunk] = []
        self._open = _Chunk(self._chunks)

    def submit(self, data: bytes) -> Reading:
        """Start reading the header of ``data`` (a whole Part 10 file)."""
        chunk = self._open
        chunk.datas.append(data)
        reading = Reading(chunk, len(chunk.datas) - 1)
        if len(chunk.datas) >= CHUNK:
            self.send()
        return reading

    def send(self) -> None:
        """Hand what is waiting to a helper now (its headers are about to be needed)."""
        if self._open.datas:
            self._open.send()
            self._chunks.append(self._open)
            self._open = _Chunk(self._chunks)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # "spawn": a fresh interpreter that imports only what `read` needs; forking a server
    # with threads and open connections is unsafe.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_watch,
        initargs=(os.getpid(),),
    )
    for _ in range(workers):
        pool.submit(_warm)
    return pool


def _replace(broken: ProcessPoolExecutor | None) -> None:
    """Swap ``broken`` (a helper died or hung) for a new pool, once however many of its
    tasks failed; stop its helpers."""
    global _pool
    with _lock:
        if broken is None or _pool is not broken:
            return
        _pool = _new_pool(_workers)
    log.warning("a header reader stopped or hung; started a new one")
    _shutdown(broken)


def _shutdown(pool: ProcessPoolExecutor) -> None:
    # to stop a hung helper
    processes: dict[int, Any] = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        with contextlib.suppress(Exception):
            process.kill()


def start(workers: int = 1) -> None:
    """Read headers in ``workers`` helper processes from now on (0: in the caller's thread)."""
    global _pool, _workers
    stop()
    with _lock:
        _workers = max(workers, 0)
        _pool = _new_pool(_workers) if _workers else None


def stop() -> None:
    global _pool, _workers
    with _lock:
        pool, _pool, _workers = _pool, None, 0
    if pool is not None:
        _shutdown(pool)


def running() -> bool:
    return _pool is not None
