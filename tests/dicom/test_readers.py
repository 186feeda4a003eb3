"""Headers read in helper processes (`dicom.readers`): the same header, the same refusals as
reading in the caller's thread, and storing goes on when a helper dies or hangs."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from sinfonia.dicom import readers
from sinfonia.dicom.header import Unreadable, read
from tests.dicom.dicomweb_helpers import bundled

NAMES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "JPEG2000.dcm"]


@pytest.fixture
def helpers() -> Iterator[None]:
    readers.start(1)
    yield
    readers.stop()


def dead(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def helper_pids() -> list[int]:
    pool = readers._pool
    assert pool is not None
    return list(getattr(pool, "_processes", {}))


@pytest.mark.parametrize("name", NAMES)
def test_a_helper_reads_the_same_header(helpers: None, name: str) -> None:
    data = bundled(name)
    reading = readers.Batch().submit(data)
    reading.header()
    assert reading.in_helper
    assert reading.header() == read(io.BytesIO(data))


def test_refusals_are_those_of_reading_here(helpers: None) -> None:
    data = bundled("CT_small.dcm")
    for bad in (data[: len(data) - 1000], b"not dicom"):
        with pytest.raises(Unreadable) as here:
            read(io.BytesIO(bad))
        with pytest.raises(Unreadable) as there:
            readers.Batch().submit(bad).header()
        assert str(there.value) == str(here.value)
    cut = readers.Batch().submit(data[: len(data) - 1000])
    with pytest.raises(Unreadable, match="Incomplete DICOM: pixel data is cut short"):
        cut.header()


def test_without_helpers_headers_are_read_here() -> None:
    assert not readers.running()
    data = bundled("MR_small.dcm")
    reading = readers.Batch().submit(data)
    assert not reading.in_helper
    assert reading.header().sop_instance_uid == read(io.BytesIO(data)).sop_instance_uid


def test_a_helper_that_dies_is_replaced(helpers: None) -> None:
    data = bundled("CT_small.dcm")
    readers.Batch().submit(data).header()  # the helper is up
    old = readers._pool
    (pid,) = helper_pids()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the executor notices the death
        try:
            readings = [readers.Batch().submit(data) for _ in range(5)]
            headers = [r.header() for r in readings]
        except Unreadable:  # never: a broken helper's work is redone here
            raise
        if readers._pool is not old:
            break
        time.sleep(0.05)
    assert readers._pool is not old and readers.running()
    assert all(h.sop_instance_uid for h in headers)
    assert readers.Batch().submit(data).header() == read(io.BytesIO(data))  # the new helper reads


def test_a_hung_helper_is_replaced_and_the_instance_refused(
    helpers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bundled("CT_small.dcm")
    readers.Batch().submit(data).header()
    old = readers._pool
    (pid,) = helper_pids()
    os.kill(pid, signal.SIGSTOP)  # as if stuck in a loop
    monkeypatch.setattr(readers, "TIMEOUT", 0.5)
    with pytest.raises(Unreadable, match="took longer than"):
        readers.Batch().submit(data).header()
    assert readers._pool is not old
    monkeypatch.setattr(readers, "TIMEOUT", 60.0)  # a new helper may take a while to start
    assert readers.Batch().submit(data).header() == read(io.BytesIO(data))
    deadline = time.monotonic() + 30
    while not dead(pid):  # the stopped helper was killed
        assert time.monotonic() < deadline, "the hung helper lives on"
        time.sleep(0.05)


def test_helpers_stop_with_their_server(tmp_path: Path) -> None:
    """A server killed with SIGKILL leaves no helper behind."""
    code = (
        "import sys, time; from sinfonia.dicom import readers;"
        "readers.start(1); readers.Batch().submit(open(sys.argv[1], 'rb').read()).header();"
        "print(*readers._pool._processes, flush=True); time.sleep(60)"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code, str(get_testdata_file("CT_small.dcm"))], stdout=subprocess.PIPE
    )
    assert server.stdout is not None
    with server.stdout:
        (helper,) = map(int, server.stdout.readline().split())
    server.kill()
    server.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if dead(helper):
            return
        time.sleep(0.05)
    raise AssertionError("the helper outlived its server")


def test_chunks_no_helper_started_are_read_here_while_waiting(helpers: None) -> None:
    data = bundled("CT_small.dcm")
    batch = readers.Batch()
    batch.submit(data)
    readers.Batch().submit(data).header()  # the helper is up
    (pid,) = helper_pids()
    os.kill(pid, signal.SIGSTOP)  # busy elsewhere
    try:
        readings = [batch.submit(data) for _ in range(readers.CHUNK * 5 - 1)]
        batch.send()
        threading.Timer(1.0, os.kill, (pid, signal.SIGCONT)).start()
        expected = read(io.BytesIO(data))
        assert all(r.header() == expected for r in readings)
    finally:
        os.kill(pid, signal.SIGCONT)
    chunks = batch._chunks
    assert len(chunks) == 5
    # The helper had the first chunks; the last ones, which it had not started, were read here.
    assert chunks[-1].future is None and chunks[-1].results is not None
    assert sum(1 for c in chunks if c.here or c.results is not None) == 5


def test_a_chunk_cancelled_by_another_requests_replacement_is_read_here(helpers: None) -> None:
    data = bundled("MR_small.dcm")
    readers.Batch().submit(data).header()  # the helper is up
    (pid,) = helper_pids()
    os.kill(pid, signal.SIGSTOP)
    try:
        batch = readers.Batch()
        readings = [batch.submit(data) for _ in range(readers.CHUNK * 4)]
        last = batch._chunks[-1]
        assert last.future is not None and last.future.cancel()  # as a pool shutdown does
        assert readings[-1].header() == read(io.BytesIO(data))
        assert last.here
    finally:
        os.kill(pid, signal.SIGCONT)
