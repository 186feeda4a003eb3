"""SSH public keys users register to sign in to SFTP (the profile page, the REST API)."""

from __future__ import annotations

from datetime import timedelta

import asyncssh
from django.db import IntegrityError, transaction
from django.utils import timezone

from sinfonia.accounts.errors import AccountError
from sinfonia.accounts.models import SshKey, User
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, Invalid, NotFound, PermissionDenied

MIN_RSA_BITS = 2048
# DSA (ssh-dss) is refused: OpenSSH itself no longer accepts it.
ALGORITHMS = (
    "ssh-ed25519",
    "ssh-ed448",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MAX_KEY_TEXT = 16 * 1024


def _require_self_or_admin(actor: Actor, user: User) -> None:
    if actor.is_site_admin or (actor.user is not None and actor.user.pk == user.pk):
        return
    raise PermissionDenied(AccountError.NOT_SITE_ADMIN, "You manage only your own SSH keys.")


def parse_public_key(text: str) -> asyncssh.SSHKey:
    """The key in ``text`` (OpenSSH one-line or RFC 4716 form), or `Invalid` saying why not."""
    if not text.strip() or len(text) > MAX_KEY_TEXT:
        raise Invalid(AccountError.INVALID_SSH_KEY, "Paste one SSH public key (a .pub file).")
    if "PRIVATE KEY" in text:
        raise Invalid(
            AccountError.INVALID_SSH_KEY,
            "This is a private key: keep it secret, and paste the public one (.pub file).",
        )
    try:
        key = asyncssh.import_public_key(text.strip())
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise Invalid(AccountError.INVALID_SSH_KEY, f"Not an SSH public key ({exc}).") from exc
    algorithm = key.get_algorithm()
    if algorithm not in ALGORITHMS:
        raise Invalid(
            AccountError.INVALID_SSH_KEY,
            f"Keys of type {algorithm} are not accepted; use ssh-ed25519, ECDSA or RSA.",
        )
    bits = getattr(getattr(key, "pyca_key", None), "key_size", MIN_RSA_BITS)
    if algorithm == "ssh-rsa" and bits < MIN_RSA_BITS:
        raise Invalid(
            AccountError.INVALID_SSH_KEY,
            f"RSA keys need at least {MIN_RSA_BITS} bits; this one has {bits}.",
        )
    return key


@transaction.atomic
def add_ssh_key(actor: Actor, user: User, public_key: str, name: str = "") -> SshKey:
    """Register ``public_key`` for ``user`` (the user or a site administrator).

    Errors: Invalid (not a public key, refused type), Conflict (already registered, by anyone).
    """
    actor.require_write()
    _require_self_or_admin(actor, user)
    key = parse_public_key(public_key)
    fingerprint = key.get_fingerprint("sha256")
    if SshKey.objects.filter(fingerprint=fingerprint).exists():
        raise Conflict(AccountError.SSH_KEY_TAKEN, "This key is already registered.")
    comment = key.get_comment() or ""
    label = (name or comment or f"{key.get_algorithm()} key").strip()[:255]
    text = key.export_public_key("openssh").decode("ascii").strip()
    try:
        with transaction.atomic():
            row = SshKey.objects.create(
                user=user, name=label, public_key=text, fingerprint=fingerprint
            )
    except IntegrityError as exc:  # registered meanwhile by a concurrent request
        raise Conflict(AccountError.SSH_KEY_TAKEN, "This key is already registered.") from exc
    record(actor, "sshkey.add", None, target=user.username, fingerprint=fingerprint)
    return row


def list_ssh_keys(actor: Actor, user: User) -> list[SshKey]:
    _require_self_or_admin(actor, user)
    return list(SshKey.objects.filter(user=user))


@transaction.atomic
def delete_ssh_key(actor: Actor, key_id: int) -> None:
    """Remove a key (its owner or a site administrator); anyone else is told it is missing."""
    actor.require_write()
    key = SshKey.objects.filter(pk=key_id).select_related("user").first()
    if key is None or not (actor.is_site_admin or (actor.user and actor.user.pk == key.user_id)):
        raise NotFound(AccountError.SSH_KEY_NOT_FOUND, "No such SSH key.")
    key.delete()
    record(actor, "sshkey.delete", None, target=key.user.username, fingerprint=key.fingerprint)


def user_for_key(username: str, key: asyncssh.SSHKey) -> User | None:
    """The active account ``username`` if ``key`` is one of its registered keys (SFTP log-in;
    the caller has checked the client holds the private half)."""
    row = (
        SshKey.objects.filter(fingerprint=key.get_fingerprint("sha256"), user__username=username)
        .select_related("user")
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        SshKey.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user
