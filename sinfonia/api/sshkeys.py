"""SSH public keys for SFTP log-in (the profile page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from sinfonia.accounts.models import SshKey
from sinfonia.accounts.services import sshkeys, users
from sinfonia.api.common import actor
from sinfonia.api.resources import ERRORS

router = Router(tags=["accounts"])


class SshKeyOut(Schema):
    id: int
    name: str
    public_key: str
    fingerprint: str
    created_at: datetime
    last_used_at: datetime | None

    @staticmethod
    def of(k: SshKey) -> dict[str, Any]:
        return {
            "id": k.id,
            "name": k.name,
            "public_key": k.public_key,
            "fingerprint": k.fingerprint,
            "created_at": k.created_at,
            "last_used_at": k.last_used_at,
        }


class SshKeyIn(Schema):
    public_key: str = Field(description="one OpenSSH public key (the content of a .pub file)")
    name: str = Field("", description="a label; the key's comment by default")


@router.get("/users/{user_id}/ssh-keys", response={200: list[SshKeyOut], **ERRORS})
def list_ssh_keys(request: HttpRequest, user_id: int) -> list[dict[str, Any]]:
    a = actor(request)
    return [SshKeyOut.of(k) for k in sshkeys.list_ssh_keys(a, users.get_user(a, user_id))]


@router.post(
    "/users/{user_id}/ssh-keys",
    response={201: SshKeyOut, **ERRORS},
    summary="Register an SSH public key for SFTP log-in",
)
def add_ssh_key(request: HttpRequest, user_id: int, body: SshKeyIn) -> Status[dict[str, Any]]:
    a = actor(request)
    key = sshkeys.add_ssh_key(a, users.get_user(a, user_id), body.public_key, body.name)
    return Status(201, SshKeyOut.of(key))


@router.delete("/ssh-keys/{key_id}", response={204: None, **ERRORS})
def delete_ssh_key(request: HttpRequest, key_id: int) -> Status[None]:
    sshkeys.delete_ssh_key(actor(request), key_id)
    return Status(204, None)
