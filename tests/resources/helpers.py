"""Small helpers shared by the tree tests: build elements through the API, inspect storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from sinfonia.storage.models import Blob
from tests.conftest import Api


def collection(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    return dict(api.ok(api.post("/collections", {"name": name, **fields}), 201))


def folder(api: Api, parent: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
    body = {"parent_id": parent["id"], "name": name, **fields}
    return dict(api.ok(api.post("/folders", body), 201))


def fileset(api: Api, parent: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
    body = {"parent_id": parent["id"], "name": name, **fields}
    return dict(api.ok(api.post("/filesets", body), 201))


def send_file(api: Api, parent_id: int, filename: str, content: bytes, **fields: Any) -> Any:
    """POST /files; unlike ``Api.upload`` this lets ``fields`` hold a ``name`` form field."""
    data = {"parent_id": parent_id, "file": SimpleUploadedFile(filename, content), **fields}
    return api.client.post("/api/v1/files", data)


def upload(
    api: Api, parent: dict[str, Any], filename: str, content: bytes = b"x", **fields: Any
) -> dict[str, Any]:
    return dict(api.ok(send_file(api, parent["id"], filename, content, **fields), 201))


def detail(api: Api, node: dict[str, Any] | int) -> dict[str, Any]:
    node_id = node if isinstance(node, int) else node["id"]
    return dict(api.ok(api.get(f"/resources/{node_id}")))


def children(api: Api, node: dict[str, Any], **params: Any) -> dict[str, Any]:
    return dict(api.ok(api.get(f"/resources/{node['id']}/children", **params)))


def child_names(api: Api, node: dict[str, Any], **params: Any) -> list[str]:
    return [item["name"] for item in children(api, node, limit=1000, **params)["items"]]


def lookup(api: Api, path: str) -> Any:
    # Api.get's own first parameter is named ``path``, so go through the Django client.
    return api.client.get("/api/v1/resource/lookup", {"path": path})


def move(api: Api, sources: list[dict[str, Any]], dest: dict[str, Any]) -> Any:
    return api.post(
        "/resources/move", {"sources": [s["id"] for s in sources], "destination_id": dest["id"]}
    )


def copy(api: Api, sources: list[dict[str, Any]], dest: dict[str, Any]) -> Any:
    return api.post(
        "/resources/copy", {"sources": [s["id"] for s in sources], "destination_id": dest["id"]}
    )


def set_acl(api: Api, node: dict[str, Any], entries: dict[str, str], **fields: Any) -> Any:
    body = {"entries": [{"user": u, "level": lvl} for u, lvl in entries.items()], **fields}
    return api.ok(api.put(f"/resources/{node['id']}/acl", body))


def error(response: Any, status: int) -> dict[str, str]:
    """The error body of ``response``, after checking its status."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"code", "detail"}, body
    return dict(body)


def download(api: Api, node: dict[str, Any]) -> Any:
    return api.get(f"/files/{node['id']}/download")


def body_of(response: Any) -> bytes:
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def disposition_name(response: Any) -> str:
    """The file name a browser takes from ``Content-Disposition`` (RFC 6266 / RFC 5987)."""
    header = response["Content-Disposition"]
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "filename*":
            charset, _, rest = value.partition("'")
            assert charset.lower() == "utf-8", header
            _, _, encoded = rest.partition("'")
            return unquote(encoded, encoding="utf-8", errors="strict")
    raise AssertionError(f"no filename* in {header!r}")


def blob_files() -> list[Path]:
    root = Path(settings.SINFONIA_BLOB_DIR)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def ref_count(sha256: str) -> int:
    return int(Blob.objects.get(pk=sha256).ref_count)
