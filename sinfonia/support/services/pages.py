"""Site pages (About, Privacy policy, Anonymisation guidelines, Contact) and acceptance of the
privacy policy."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from sinfonia.accounts.models import User
from sinfonia.accounts.services.users import require_site_admin
from sinfonia.audit.services import record
from sinfonia.core.context import Actor
from sinfonia.core.errors import Invalid, NotFound
from sinfonia.support.errors import SupportError
from sinfonia.support.models import PageSlug, PolicyAcceptance, SitePage

MAX_BODY = 100_000

DEFAULTS: dict[str, str] = {
    PageSlug.ABOUT: (
        "Sinfonia is the research data repository of a multi-centre medical-imaging project.\n\n"
        "A site administrator can edit this page."
    ),
    PageSlug.PRIVACY: (
        "This repository stores pseudonymised research data. Only the cookies needed for "
        "signing in (session) and for protecting forms (CSRF) are used.\n\n"
        "A site administrator can edit this page."
    ),
    PageSlug.ANONYMISATION: (
        "Remove every direct identifier (names, birth dates, addresses, record numbers) from "
        "files and DICOM headers before uploading them.\n\n"
        "A site administrator can edit this page."
    ),
    PageSlug.CONTACT: (
        "Ask the repository administrators for an account or for help.\n\n"
        "A site administrator can edit this page."
    ),
}


@dataclass(frozen=True, slots=True)
class Page:
    slug: str
    title: str
    body: str
    edited: bool


def get_page(slug: str) -> Page:
    """A page's text: the stored one, or a default while nobody has written one."""
    if slug not in PageSlug.values:
        raise NotFound(SupportError.UNKNOWN_PAGE, "No such page.")
    page = SitePage.objects.filter(slug=slug).first()
    if page is None:
        return Page(slug=slug, title=str(PageSlug(slug).label), body=DEFAULTS[slug], edited=False)
    return Page(slug=slug, title=page.title, body=page.body, edited=True)


@transaction.atomic
def update_page(actor: Actor, slug: str, *, title: str, body: str) -> Page:
    """Replace a page's title and text (site administrators)."""
    actor.require_write()
    require_site_admin(actor, "edit site pages")
    if slug not in PageSlug.values:
        raise NotFound(SupportError.UNKNOWN_PAGE, "No such page.")
    title = title.strip()
    if not title or len(title) > 200 or len(body) > MAX_BODY or "\x00" in title + body:
        raise Invalid(SupportError.INVALID_MESSAGE, "A title (200 characters at most) is needed.")
    SitePage.objects.update_or_create(
        slug=slug, defaults={"title": title, "body": body, "updated_by": actor.user}
    )
    record(actor, "site_page.update", path=slug)
    return get_page(slug)


def policy_version() -> str:
    return str(settings.SINFONIA_PRIVACY_POLICY_VERSION)


def has_accepted_policy(user: User) -> bool:
    return PolicyAcceptance.objects.filter(user=user, version=policy_version()).exists()


def accept_policy(actor: Actor) -> None:
    """Record that the signed-in user accepts the current privacy policy (idempotent)."""
    actor.require_write()
    assert actor.user is not None
    try:
        with transaction.atomic():
            PolicyAcceptance.objects.create(user=actor.user, version=policy_version())
            record(actor, "privacy_policy.accept", version=policy_version())
    except IntegrityError:
        pass  # accepted already (two tabs)
