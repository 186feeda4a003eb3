"""Pending parts (the SFTP upload path): gathered writes, read-back, truncation, out-of-order
ranges and resumption all end with the exact bytes and the right SHA-256."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from sinfonia.accounts.models import User
from sinfonia.core.context import Actor
from sinfonia.resources.models import Node
from sinfonia.resources.services.tree import ensure_home
from sinfonia.storage import blobstore
from sinfonia.transfers.services import parts

KB = 1024


def _start(user: User, name: str, *, truncate: bool = True) -> tuple[Actor, parts.PartFile]:
    actor = Actor(user=user, channel="sftp")
    home = ensure_home(user)
    part = parts.open_part(actor, home, name, f"/~{user.username}/{name}", truncate=truncate)
    return actor, part


def _stored(node: Node) -> bytes:
    assert node.blob_id is not None
    return b"".join(blobstore.read_chunks(node.blob_id))


def test_small_contiguous_writes_are_gathered_and_hashed(
    make_user: Callable[..., User], settings: Any
) -> None:
    user = make_user("parts1")
    _, part = _start(user, "big.bin")
    data = os.urandom(3 * 1024 * KB + 123)
    for offset in range(0, len(data), 32 * KB):
        part.write(offset, data[offset : offset + 32 * KB])
        # what was written is readable at once, gathered or not
        assert part.read(offset, 16) == data[offset : offset + 16]
    node = part.finish()
    assert node.blob_id == hashlib.sha256(data).hexdigest()
    assert _stored(node) == data


def test_gaps_rewrites_and_truncation(make_user: Callable[..., User]) -> None:
    user = make_user("parts2")
    _, part = _start(user, "holes.bin")
    a, b, c = os.urandom(700 * KB), os.urandom(900 * KB), os.urandom(50 * KB)
    part.write(len(a), b)  # ahead of the gap
    part.write(0, a)  # fills it
    part.write(10, c)  # rewrite of bytes already hashed
    part.write(len(a) + len(b), b"tail to be cut")
    part.truncate(len(a) + len(b))
    expected = bytearray(a + b)
    expected[10 : 10 + len(c)] = c
    node = part.finish()
    assert node.size == len(expected)
    assert node.blob_id == hashlib.sha256(expected).hexdigest()


def test_an_abandoned_part_keeps_every_acknowledged_byte(make_user: Callable[..., User]) -> None:
    user = make_user("parts3")
    actor, part = _start(user, "resumed.bin")
    first = os.urandom(300 * KB)  # below the gathering threshold: still in memory
    part.write(0, first)
    part.abandon()
    assert parts.pending_size(actor, f"/~{user.username}/resumed.bin") == len(first)
    _, again = _start(user, "resumed.bin", truncate=False)
    rest = os.urandom(2 * 1024 * KB)
    again.write(len(first), rest)
    node = again.finish()
    assert node.blob_id == hashlib.sha256(first + rest).hexdigest()
