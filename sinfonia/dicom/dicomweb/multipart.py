"""``multipart/related`` bodies (RFC 2387, PS3.18 §8.6.1.2): written as a stream of parts,
read part by part from a request body without holding it in memory."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

CRLF = b"\r\n"
READ = 256 * 1024
MAX_HEADER = 16 * 1024


def new_boundary() -> str:
    return f"sinfonia-{secrets.token_hex(16)}"


@dataclass(frozen=True, slots=True)
class OutPart:
    content_type: str
    chunks: Iterable[bytes]
    length: int | None = None


def content_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


def write(parts: Iterable[OutPart], boundary: str) -> Iterator[bytes]:
    """The body: each part's headers, then its chunks as they come, then the close delimiter.
    Parts are produced lazily, so one part at a time is in memory."""
    marker = b"--" + boundary.encode("ascii")
    first = True
    for part in parts:
        head = (b"" if first else CRLF) + marker + CRLF
        head += b"Content-Type: " + part.content_type.encode("ascii") + CRLF
        if part.length is not None:
            head += b"Content-Length: " + str(part.length).encode("ascii") + CRLF
        yield head + CRLF
        first = False
        yield from (chunk for chunk in part.chunks if chunk)
    yield (b"" if first else CRLF) + marker + b"--" + CRLF


class MultipartError(ValueError):
    """The body is not a well-formed multipart body with the announced boundary."""


@dataclass
class InPart:
    headers: dict[str, str]
    chunks: Iterator[bytes]

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class Reader:
    """Parts of a multipart body read through ``read(n)`` (a request's stream).

    Each part's content is an iterator of chunks; it must be consumed (or is skipped) before
    the next part is asked for. At most about ``READ`` bytes plus the boundary are buffered.
    The buffer is read from a position (``_at``) rather than cut after each step: cutting
    copied what was left of it, up to ``READ`` bytes, several times for every small part.
    """

    def __init__(self, read: Callable[[int], bytes], boundary: str) -> None:
        if not boundary or len(boundary) > 70:
            raise MultipartError("The multipart boundary is missing or longer than 70 characters.")
        self._read = read
        self._delimiter = CRLF + b"--" + boundary.encode("latin-1")
        # A CRLF in front lets the first delimiter, at the very start, be found like the others.
        self._buffer = CRLF
        self._at = 0
        self._eof = False
        self._done = False

    def _left(self) -> int:
        return len(self._buffer) - self._at

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._read(READ)
        if not data:
            self._eof = True
            return False
        self._buffer = self._buffer[self._at :] + data
        self._at = 0
        return True

    def _skip_to_delimiter(self) -> None:
        """Drop everything up to and including the next delimiter (the preamble)."""
        while (at := self._buffer.find(self._delimiter, self._at)) < 0:
            self._at = max(self._at, len(self._buffer) - (len(self._delimiter) - 1))
            if not self._fill():
                raise MultipartError("No part with the announced boundary was found.")
        self._at = at + len(self._delimiter)

    def _after_delimiter(self) -> bool:
        """After a delimiter: True when a part follows, False at the close delimiter."""
        while self._left() < 2 and self._fill():
            pass
        if self._buffer.startswith(b"--", self._at):
            self._done = True
            return False
        while (end := self._buffer.find(CRLF, self._at)) < 0:  # transport padding, then CRLF
            if self._left() > MAX_HEADER or not self._fill():
                raise MultipartError("A multipart delimiter is not followed by a line end.")
        if self._buffer[self._at : end].strip(b" \t"):
            raise MultipartError("Unexpected text after a multipart delimiter.")
        self._at = end + 2
        return True

    def _headers(self) -> dict[str, str]:
        while self._left() < 2 and self._fill():
            pass
        if self._buffer.startswith(CRLF, self._at):  # a part without headers
            self._at += 2
            return {}
        while (end := self._buffer.find(CRLF + CRLF, self._at)) < 0:
            if self._left() > MAX_HEADER or not self._fill():
                raise MultipartError("A multipart part's headers do not end.")
        block = self._buffer[self._at : end]
        self._at = end + 4
        headers = {}
        for line in block.decode("latin-1").split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                raise MultipartError(f"Malformed part header line {line[:80]!r}.")
            headers[name.strip().lower()] = value.strip()
        return headers

    def _content(self) -> Iterator[bytes]:
        keep = len(self._delimiter) - 1
        while True:
            at = self._buffer.find(self._delimiter, self._at)
            if at >= 0:
                if at > self._at:
                    yield self._buffer[self._at : at]
                self._at = at + len(self._delimiter)
                return
            if self._left() > keep:
                end = len(self._buffer) - keep
                yield self._buffer[self._at : end]
                self._at = end
            if not self._fill():
                raise MultipartError("The body ends inside a part (no closing boundary).")

    def parts(self) -> Iterator[InPart]:
        self._skip_to_delimiter()
        while self._after_delimiter():
            part = InPart(self._headers(), self._content())
            yield part
            for _ in part.chunks:  # skip what the consumer left unread
                pass
