"""Early write-back of large received files (storage/writeback.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sinfonia.storage import writeback


def test_written_stretches_are_handed_to_the_kernel_and_the_bytes_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "STEP", 64 * 1024)
    path = tmp_path / "part"
    body = os.urandom(5 * writeback.STEP + 123)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        follower = writeback.Writeback(fd)
        follower.written(writeback.STEP)  # not two stretches yet: nothing asked
        assert follower.pending is None and follower.flushed == 0
        os.write(fd, body)
        follower.written(len(body))
        assert follower.flushed == 4 * writeback.STEP  # all but the last, unfinished stretch
        assert follower.pending is not None
        follower.close()
        assert follower.pending is None
    finally:
        os.close(fd)
    assert path.read_bytes() == body


def test_a_resumed_file_starts_from_its_last_whole_stretch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(writeback, "STEP", 1000)
    with open(tmp_path / "f", "wb") as fh:
        follower = writeback.Writeback(fh.fileno(), 2500)
        assert follower.flushed == 2000
        follower.written(3999)  # less than two stretches past it
        assert follower.pending is None
        follower.close()
