"""The blob reserve: empty files and folders a helper process makes ahead for blob writes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sinfonia.storage import blobstore, reserve


def wait_for(check: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def ready(root: Path, kind: str) -> list[Path]:
    return [p for p in root.iterdir() if p.name.startswith(f"ready-{kind}")]


@pytest.fixture
def started() -> Iterator[reserve.Reserve]:
    tmp = blobstore.tmp_dir()
    running = reserve.start(tmp)
    wait_for(lambda: ready(running.root, "f") and ready(running.root, "d"))
    yield running
    reserve.stop()


def test_blob_writes_use_the_reserve_files_and_folders(started: reserve.Reserve) -> None:
    contents = [f"instance {i}".encode() for i in range(3)]
    stored = [blobstore.write_chunks([c]) for c in contents]
    for content, blob in zip(contents, stored, strict=True):
        assert blob.sha256 == hashlib.sha256(content).hexdigest()
        assert blobstore.blob_path(blob.sha256).read_bytes() == content
        assert (blobstore.blob_path(blob.sha256).stat().st_mode & 0o777) == 0o600
    taken = [p for p in started.root.iterdir() if p.name.startswith("taken-")]
    assert len(taken) == 2  # a folder of files and one of folders, claimed
    # Nothing was made beside the reserve in the temporary folder.
    assert [p.name for p in blobstore.tmp_dir().iterdir()] == [started.root.name]
    # Every blob folder came from the reserve too (the store was empty: each blob's two).
    paths = [blobstore.blob_path(b.sha256) for b in stored]
    folders = len({p.parent for p in paths} | {p.parent.parent for p in paths})
    left = sum(1 for p in taken for _ in p.iterdir())
    assert left == 2 * reserve.PER_FOLDER - len(stored) - folders


def test_batch_writes_settle_from_the_reserve(started: reserve.Reserve) -> None:
    written = [blobstore.write_unsynced([os.urandom(1000)]) for _ in range(50)]
    assert all(started.root in w.path.parents for w in written)
    stored = blobstore.settle_all(written)
    assert all(blobstore.exists(s.sha256) for s in stored)
    assert not any(w.path.exists() for w in written)


def test_the_helper_refills_and_tidies(started: reserve.Reserve) -> None:
    for _ in range(reserve.PER_FOLDER + 5):  # past the first folder of files
        blobstore.write_chunks([os.urandom(64)])
    # Once the server takes folders, the helper keeps more of them ready, and removes the
    # folders that have been emptied.
    wait_for(lambda: len(ready(started.root, "f")) == reserve.READY)
    wait_for(lambda: len([p for p in started.root.iterdir() if p.name.startswith("taken-")]) <= 3)


def test_a_folder_made_meanwhile_is_kept(started: reserve.Reserve) -> None:
    data = b"made elsewhere first"
    sha = hashlib.sha256(data).hexdigest()
    leaf = blobstore.blob_path(sha).parent
    leaf.mkdir(parents=True)
    (leaf / "other").write_bytes(b"x")  # another writer's blob, already there
    blobstore.write_chunks([data])
    assert blobstore.blob_path(sha).read_bytes() == data
    assert (leaf / "other").read_bytes() == b"x"


def test_writes_go_on_when_the_helper_dies(started: reserve.Reserve) -> None:
    os.kill(started._helper.pid, signal.SIGKILL)
    started._helper.wait(10)
    assert reserve.current(blobstore.tmp_dir()) is None
    stored = blobstore.write_chunks([b"after the helper"])
    assert blobstore.blob_path(stored.sha256).read_bytes() == b"after the helper"


def test_stopping_removes_the_reserve_and_its_helper() -> None:
    running = reserve.start(blobstore.tmp_dir())
    wait_for(lambda: ready(running.root, "f"))
    reserve.stop()
    assert not running.root.exists()
    assert running._helper.poll() is not None
    assert reserve.current(blobstore.tmp_dir()) is None


def test_the_helper_stops_with_its_server(tmp_path: Path) -> None:
    """A server killed with SIGKILL leaves its helper parentless: the helper ends, and the
    next start sweeps the folder."""
    code = (
        "import os, sys, time; from pathlib import Path;"
        "import django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'sinfonia.settings');"
        "django.setup(); from sinfonia.storage import reserve;"
        "r = reserve.start(Path(sys.argv[1])); print(r._helper.pid, flush=True); time.sleep(60)"
    )
    env = os.environ | {"SINFONIA_DATA": str(tmp_path / "data")}
    server = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "tmp")], stdout=subprocess.PIPE, env=env
    )
    assert server.stdout is not None
    with server.stdout:
        helper = int(server.stdout.readline())
    server.kill()
    server.wait()

    def gone() -> bool:
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone)
    assert reserve.sweep(tmp_path / "tmp") == 1
    assert not list((tmp_path / "tmp").iterdir())


def test_sweep_keeps_live_servers_reserves(tmp_path: Path) -> None:
    (tmp_path / f"reserve-{os.getpid()}").mkdir()
    (tmp_path / "reserve-999999999").mkdir()
    (tmp_path / "blob-abc").write_bytes(b"")
    assert reserve.sweep(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob-abc", f"reserve-{os.getpid()}"]
