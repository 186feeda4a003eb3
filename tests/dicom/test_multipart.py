"""`dicomweb.multipart`: bodies written by `write` are read back part by part by `Reader`,
however the stream hands out its bytes; malformed bodies are refused with a clear error."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import pytest

from sinfonia.dicom.dicomweb import multipart

BOUNDARY = "b0undary-42"


def body_of(parts: list[bytes], boundary: str = BOUNDARY) -> bytes:
    out = multipart.write(
        (
            multipart.OutPart("application/dicom", [p[: len(p) // 2], p[len(p) // 2 :]])
            for p in parts
        ),
        boundary,
    )
    return b"".join(out)


def trickle(data: bytes, seed: int, largest: int) -> Callable[[int], bytes]:
    """A stream that hands out at most ``largest`` bytes at a time, in random amounts."""
    stream = io.BytesIO(data)
    rng = random.Random(seed)
    return lambda n: stream.read(min(n, rng.randint(1, largest)))


def read_all(read: Callable[[int], bytes], boundary: str = BOUNDARY) -> list[tuple[str, bytes]]:
    return [
        (part.content_type, b"".join(part.chunks))
        for part in multipart.Reader(read, boundary).parts()
    ]


# Contents that look like delimiters in part, or end in CR LF, or are empty.
CONTENTS = [
    b"",
    b"\r\n",
    b"--" + BOUNDARY.encode(),
    b"\r\n--" + BOUNDARY.encode()[:-1] + b"x",
    bytes(range(256)) * 40,
    b"x" * (multipart.READ + 17),
    b"tail\r\n-",
]


@pytest.mark.parametrize("largest", [1, 3, 70, 4096, multipart.READ * 2])
def test_parts_come_back_whole_however_the_bytes_arrive(largest: int) -> None:
    body = body_of(CONTENTS)
    for seed in range(3):
        parts = read_all(trickle(body, seed, largest))
        assert parts == [("application/dicom", c) for c in CONTENTS]


def test_a_preamble_and_transport_padding_are_skipped() -> None:
    body = b"a preamble\r\n" + body_of([b"one", b"two"]).replace(
        f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}  \r\n".encode()
    )
    assert [c for _, c in read_all(trickle(body, 1, 5))] == [b"one", b"two"]


def test_a_part_left_unread_is_skipped() -> None:
    reader = multipart.Reader(io.BytesIO(body_of([b"one" * 1000, b"two"])).read, BOUNDARY)
    parts = reader.parts()
    next(parts)
    assert b"".join(next(parts).chunks) == b"two"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"no delimiter at all", "No part with the announced boundary"),
        (f"--{BOUNDARY}\r\nContent-Type: x\r\n\r\nunfinished".encode(), "ends inside a part"),
        (f"--{BOUNDARY}\r\nContent-Type: x".encode(), "headers do not end"),
        (f"--{BOUNDARY}junk\r\n\r\nx".encode(), "Unexpected text after"),
        (f"--{BOUNDARY}\r\nno colon here\r\n\r\nx".encode(), "Malformed part header"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(multipart.MultipartError, match=message):
        read_all(trickle(body, 0, 7))
