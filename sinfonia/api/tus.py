"""tus 1.0 resumable uploads at /api/v1/uploads (core, creation, creation-with-upload,
termination, checksum, expiration), as a plain ASGI application.

It sits in front of Django because Django's ASGI handler reads a whole request body into a
temporary file before a view runs; here the body streams straight into the upload's part file
(one write, hashed on the way, memory flat). All rules live in `transfers.services.uploads`.

Authentication: ``Authorization: Bearer`` with an API key or an upload token
(``POST /api/v1/upload-tokens``), which outlives the browser session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asgiref.sync import sync_to_async
from django.utils.http import http_date

from sinfonia import __version__
from sinfonia.accounts.models import User
from sinfonia.accounts.services import apikeys
from sinfonia.api.common import status_for
from sinfonia.core.context import Actor
from sinfonia.core.errors import ServiceError
from sinfonia.transfers.errors import TransferError
from sinfonia.transfers.models import Upload
from sinfonia.transfers.services import uploads

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

PREFIX = "/api/v1/uploads"
UPLOAD_PATH = re.compile(r"^/api/v1/uploads/([0-9a-fA-F-]{36})/?$")
TUS_HEADERS = {
    "Tus-Resumable": "1.0.0",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
OPTIONS_HEADERS = {
    "Tus-Version": "1.0.0",
    "Tus-Extension": "creation,creation-with-upload,termination,checksum,expiration",
    "Tus-Checksum-Algorithm": "sha256,sha1",
}
# Hash and write in batches of about this size: large enough to keep thread hand-offs rare,
# small enough that many concurrent uploads hold little memory (two batches each at most).
BATCH = 1024 * 1024
CHECKSUM_STATUS = 460  # tus checksum extension: "Checksum Mismatch"


class TusError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def parse_metadata(header: str) -> dict[str, str]:
    """``key base64value,key2 base64value2`` (tus §Upload-Metadata)."""
    meta: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            meta[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise TusError(400, "bad_upload_metadata", f"Upload-Metadata {key!r}: {exc}") from exc
    return meta


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _authenticate(token: str) -> tuple[User | None, bool]:
    """(user, read-only) of an API key or a portal upload token."""
    key = apikeys.authenticate(token)
    if key is not None:
        return key.user, key.read_only
    return apikeys.authenticate_upload_token(token), False


class TusApp:
    """Routes /api/v1/uploads* here and everything else to ``inner`` (Django)."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.inner(scope, receive, send)
            return
        try:
            await self.handle(scope, receive, send)
        except TusError as exc:
            await respond(send, exc.status, {}, {"code": exc.code, "detail": exc.detail})
        except ServiceError as exc:
            status = status_for(exc)
            if exc.code == TransferError.CHECKSUM_MISMATCH:
                status = CHECKSUM_STATUS
            await respond(send, status, {}, {"code": str(exc.code), "detail": exc.message})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        headers = _headers(scope)
        if method == "OPTIONS":
            await respond(send, 204, OPTIONS_HEADERS | {"Tus-Max-Size": str(_max_size())})
            return
        if method not in ("GET", "HEAD") and headers.get("tus-resumable") != "1.0.0":
            raise TusError(412, "tus_version", "Send Tus-Resumable: 1.0.0.")
        actor = await self.actor(scope, headers)
        match = UPLOAD_PATH.match(scope["path"])
        if scope["path"].rstrip("/") == PREFIX and method == "POST":
            await self.create(actor, headers, receive, send)
        elif match and method in ("HEAD", "GET"):
            upload = await sync_to_async(uploads.get_upload)(actor, match.group(1))
            await respond(send, 200, _state(upload), None if method == "HEAD" else _json(upload))
        elif match and method == "PATCH":
            upload = await sync_to_async(uploads.get_upload)(actor, match.group(1))
            await self.patch(actor, upload, headers, receive, send)
        elif match and method == "DELETE":
            upload = await sync_to_async(uploads.get_upload)(actor, match.group(1))
            await sync_to_async(uploads.terminate)(actor, upload)
            await respond(send, 204, {})
        else:
            raise TusError(405, "method_not_allowed", f"{method} is not supported here.")

    async def actor(self, scope: Scope, headers: dict[str, str]) -> Actor:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        user, read_only = None, False
        if scheme.lower() == "bearer" and token:
            user, read_only = await sync_to_async(_authenticate)(token.strip())
        if user is None:
            raise TusError(
                401, "unauthorized", "Send Authorization: Bearer <API key or upload token>."
            )
        client = scope.get("client") or ("", 0)
        return Actor(user=user, channel="api", client=str(client[0]), read_only=read_only)

    async def create(
        self, actor: Actor, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        try:
            length = int(headers["upload-length"])
        except (KeyError, ValueError) as exc:
            raise TusError(400, "bad_length", "Upload-Length (bytes) is required.") from exc
        meta = parse_metadata(headers.get("upload-metadata", ""))
        upload = await sync_to_async(uploads.create_upload)(actor, length, meta)
        extra = {"Location": f"{PREFIX}/{upload.id}"}
        has_body = int(headers.get("content-length", "0") or 0) > 0
        if has_body and headers.get("content-type") == "application/offset+octet-stream":
            upload, _ = await self.stream(actor, upload, 0, headers, receive)
        await respond(send, 201, extra | _state(upload))

    async def patch(
        self,
        actor: Actor,
        upload: Upload,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        if headers.get("content-type") != "application/offset+octet-stream":
            raise TusError(415, "content_type", "PATCH needs application/offset+octet-stream.")
        try:
            offset = int(headers["upload-offset"])
        except (KeyError, ValueError) as exc:
            raise TusError(400, "bad_offset", "Upload-Offset is required.") from exc
        upload, _ = await self.stream(actor, upload, offset, headers, receive)
        await respond(send, 204, _state(upload))

    async def stream(
        self,
        actor: Actor,
        upload: Upload,
        offset: int,
        headers: dict[str, str],
        receive: Receive,
    ) -> tuple[Upload, int]:
        """Copy the request body into the upload; finish it when the last byte arrived."""
        expected = _checksum(headers.get("upload-checksum"))
        writer = await sync_to_async(uploads.PartWriter, thread_sensitive=False)(upload, offset)
        if expected is not None:
            writer.expect_checksum(expected[0])
        loop = asyncio.get_running_loop()
        # One batch is hashed and written in a worker thread while the next one is received
        # (hashing releases the GIL), so the network and the disk/CPU work overlap.
        in_flight: asyncio.Future[None] | None = None
        buffer = bytearray()
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if in_flight is not None:
                        await in_flight
                        in_flight = None
                    await loop.run_in_executor(None, writer.write, buffer)
                    await loop.run_in_executor(None, writer.abort)
                    raise TusError(400, "disconnected", "The client went away; resume with HEAD.")
                buffer += message.get("body", b"")
                last = not message.get("more_body", False)
                if len(buffer) >= BATCH or last:
                    if in_flight is not None:
                        await in_flight
                    # Hand the filled buffer over and start a new one: no copy.
                    batch, buffer = buffer, bytearray()
                    in_flight = loop.run_in_executor(None, writer.write, batch)
                if last:
                    break
            await in_flight  # type: ignore[misc]
        except BaseException:
            if in_flight is not None and not in_flight.done():
                await asyncio.wait([in_flight])
            await loop.run_in_executor(None, writer.abort)  # keeps what was written; unlocks
            raise
        new_offset = await sync_to_async(writer.finish, thread_sensitive=False)(
            expected[1] if expected else None
        )
        if writer.complete:
            await sync_to_async(uploads.complete)(actor, upload)
            await sync_to_async(upload.refresh_from_db)()
        return upload, new_offset


def _checksum(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    algorithm, _, value = header.strip().partition(" ")
    try:
        return algorithm.lower(), base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise TusError(400, "bad_checksum", "Upload-Checksum: <algorithm> <base64>.") from exc


def _max_size() -> int:
    from django.conf import settings

    return int(settings.SINFONIA_MAX_UPLOAD_SIZE)


def _state(upload: Upload) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(uploads.offset_of(upload)),
        "Upload-Length": str(upload.length),
        "Upload-Expires": http_date(upload.expires_at.timestamp()),
    }
    if upload.file_node_id is not None:
        headers["Sinfonia-File-Id"] = str(upload.file_node_id)
    return headers


def _json(upload: Upload) -> dict[str, Any]:
    return {
        "id": str(upload.id),
        "filename": upload.filename,
        "length": upload.length,
        "offset": uploads.offset_of(upload),
        "parent_id": upload.parent_id,
        "file_id": upload.file_node_id,
        "completed": upload.completed_at is not None,
        "expires_at": upload.expires_at.isoformat(),
    }


async def respond(
    send: Send, status: int, headers: dict[str, str], body: dict[str, Any] | None = None
) -> None:
    payload = json.dumps(body).encode() if body is not None else b""
    all_headers = TUS_HEADERS | headers | {"Content-Length": str(len(payload))}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    all_headers["Server-Version"] = f"sinfonia/{__version__}"
    all_headers["X-Content-Type-Options"] = "nosniff"  # outside Django's middleware here
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": payload})
