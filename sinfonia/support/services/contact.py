"""Messages from signed-in users to the site administrators, with attachments."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet

from sinfonia.accounts.services.users import require_site_admin
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound, Unauthenticated
from sinfonia.support.errors import SupportError
from sinfonia.support.models import ContactAttachment, ContactMessage, Topic

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    content_type: str
    size: int
    stream: IO[bytes]


def support_dir() -> Path:
    path = Path(settings.SINFONIA_SUPPORT_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check(topic: str, subject: str, body: str, files: list[Upload]) -> None:
    if topic not in Topic.values:
        raise Invalid(SupportError.INVALID_MESSAGE, "Choose a topic.")
    if not subject.strip() or len(subject) > 200 or not body.strip() or len(body) > 50_000:
        raise Invalid(SupportError.INVALID_MESSAGE, "Write a subject and a message.")
    if len(files) > MAX_ATTACHMENTS:
        raise Invalid(SupportError.TOO_LARGE, f"Attach at most {MAX_ATTACHMENTS} files.")
    if any(f.size > MAX_ATTACHMENT_BYTES for f in files):
        raise Invalid(SupportError.TOO_LARGE, "Each attachment may have at most 10 MiB.")


def send_message(
    actor: Actor, *, topic: str, subject: str, body: str, files: Iterable[Upload] = ()
) -> ContactMessage:
    """Store a message (and its attachments) for the site administrators; e-mail it to
    SINFONIA_SUPPORT_EMAIL when one is configured. Mail failures are logged, not raised."""
    actor.require_write()
    if actor.user is None or not actor.is_authenticated:
        raise Unauthenticated(SupportError.INVALID_MESSAGE, "Sign in first.")
    uploads = list(files)
    _check(topic, subject, body, uploads)
    written: list[Path] = []
    try:
        with transaction.atomic():
            message = ContactMessage.objects.create(
                sender=actor.user,
                sender_name=actor.user.username,
                topic=topic,
                subject=subject.strip(),
                body=body,
            )
            for upload in uploads:
                stored = secrets.token_hex(16)
                path = support_dir() / stored
                with open(path, "wb") as out:
                    while chunk := upload.stream.read(1 << 16):
                        out.write(chunk)
                written.append(path)
                ContactAttachment.objects.create(
                    message=message,
                    name=upload.name[:255] or "attachment",
                    content_type=upload.content_type or "application/octet-stream",
                    size=path.stat().st_size,
                    stored_name=stored,
                )
            record(actor, "contact.send", topic=topic, message_id=message.id)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    transaction.on_commit(lambda: _mail(message.id))
    return message


def _mail(message_id: int) -> None:
    recipients = [a for a in settings.SINFONIA_SUPPORT_EMAIL.split(",") if a.strip()]
    if not recipients:
        return
    message = ContactMessage.objects.prefetch_related("attachments").get(pk=message_id)
    mail = EmailMessage(
        subject=f"[Sinfonia] {Topic(message.topic).label}: {message.subject}",
        body=f"From: {message.sender_name}\n\n{message.body}",
        to=recipients,
    )
    for attachment in message.attachments.all():
        data = (support_dir() / attachment.stored_name).read_bytes()
        mail.attach(attachment.name, data, attachment.content_type)
    try:
        mail.send()
    except Exception:  # the message is stored; the mail is a courtesy
        log.exception("could not e-mail contact message %s", message_id)
        return
    ContactMessage.objects.filter(pk=message_id).update(emailed=True)


def list_messages(actor: Actor) -> QuerySet[ContactMessage]:
    require_site_admin(actor, "read contact messages")
    return ContactMessage.objects.prefetch_related("attachments")


def open_attachment(actor: Actor, attachment_id: int) -> tuple[ContactAttachment, Path]:
    require_site_admin(actor, "read contact messages")
    attachment = ContactAttachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise NotFound(SupportError.NOT_FOUND, "No such attachment.")
    return attachment, support_dir() / attachment.stored_name
