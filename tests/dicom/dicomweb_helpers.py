"""Helpers of the DICOMweb tests: request bodies, response parts, DICOM made on the fly."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pydicom
from django.test import Client
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from sinfonia.accounts.models import User
from sinfonia.accounts.services import apikeys
from tests.conftest import SYSTEM

BOUNDARY = "test-boundary-1234"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
BASE = "/dicom-web"


def bundled(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def renamed(data: bytes, **changes: str) -> bytes:
    """A bundled file with other UIDs (fresh SOP Instance UID unless given)."""
    ds = read(data)
    ds.SOPInstanceUID = changes.pop("SOPInstanceUID", generate_uid())
    for key, value in changes.items():
        setattr(ds, key, value)
    return encode(ds)


def multipart_body(parts: list[bytes], content_type: str = "application/dicom") -> bytes:
    out = b""
    for part in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\n\r\n".encode() + part + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def key_client(user: User, **kwargs: Any) -> Client:
    _, key = apikeys.create_api_key(SYSTEM, user, "dicomweb tests")
    return Client(headers={"Authorization": f"Bearer {key}"}, **kwargs)


def stow(client: Client, parts: list[bytes], study: str | None = None, **params: Any) -> Any:
    path = f"{BASE}/studies" + (f"/{study}" if study else "")
    if params:
        from urllib.parse import urlencode

        path += "?" + urlencode(params)
    return client.post(path, data=multipart_body(parts), content_type=STOW_TYPE)


def body_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def split_multipart(response: Any) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/related response, parsed independently of the server's code."""
    content_type = response["Content-Type"]
    assert content_type.startswith("multipart/related"), content_type
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match, content_type
    boundary = match.group(1).encode()
    body = body_of(response)
    pieces = body.split(b"--" + boundary)
    assert pieces[-1].strip() == b"--", pieces[-1][:50]
    parts = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n")
        head, sep, content = piece[2:].partition(b"\r\n\r\n")
        assert sep and content.endswith(b"\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, content[:-2]))
    return parts


def results(response: Any) -> list[dict[str, Any]]:
    """QIDO results: 204 is an empty list."""
    if response.status_code == 204:
        assert not response.content
        return []
    assert response.status_code == 200, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/dicom+json"
    data: list[dict[str, Any]] = json.loads(response.content)
    return data


def value(item: dict[str, Any], tag: str) -> Any:
    """The first value of a DICOM JSON element (PN: its Alphabetic group)."""
    element = item.get(tag)
    if element is None or "Value" not in element:
        return None
    first = element["Value"][0]
    return first.get("Alphabetic") if isinstance(first, dict) and element["vr"] == "PN" else first


def values(item: dict[str, Any], tag: str) -> list[Any]:
    element = item.get(tag) or {}
    return list(element.get("Value", []))
